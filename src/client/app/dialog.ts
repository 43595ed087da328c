import { h } from "./dom";
import { t } from "./i18n";

export interface Question {
  /** Prefix of the dialog's ids: `<id>-dialog`, `<id>-title`, `<id>-text`, `<id>-yes` (confirm), `<id>-no`. */
  id: string;
  title: string;
  text: string;
  /** The confirming button's label: the action itself ("Remove"), never a bare "OK". */
  confirm: string;
  /** Inputs the caller reads once confirmed; required ones must be filled to confirm. */
  fields?: HTMLElement[];
  /** Removes someone or ends something: the confirm button is red and focus starts on cancel. */
  destructive?: boolean;
}

/**
 * Asks in a modal dialog: true once confirmed, false on cancel or Escape. Focus starts in the dialog (on cancel for
 * destructive actions, else on the first field) and returns to where it was when the dialog closes.
 */
export function ask(question: Question): Promise<boolean> {
  const { id, fields = [] } = question;
  const returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const dialog = h("dialog", {
    id: `${id}-dialog`,
    "aria-labelledby": `${id}-title`,
    "aria-describedby": `${id}-text`,
  });
  // Cancel is no submit button: Enter in a field must confirm (the form's default button), not cancel.
  const cancel = h("button", { type: "button", id: `${id}-no`, onclick: () => dialog.close() }, t("cancel"));
  const confirm = h(
    "button",
    { type: "submit", id: `${id}-yes`, value: "yes", class: question.destructive ? "danger" : undefined },
    question.confirm,
  );
  dialog.append(
    h(
      "form",
      { method: "dialog" },
      h("h2", { id: `${id}-title` }, question.title),
      h("p", { id: `${id}-text` }, question.text),
      ...fields,
      h("div", { class: "dialog-buttons" }, cancel, confirm),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
  const input = fields
    .map((field) => (field instanceof HTMLInputElement ? field : field.querySelector("input")))
    .find((found) => found !== null);
  (question.destructive ? cancel : (input ?? confirm)).focus();
  return new Promise((resolve) =>
    dialog.addEventListener(
      "close",
      () => {
        dialog.remove();
        if (returnTo?.isConnected) returnTo.focus();
        resolve(dialog.returnValue === "yes");
      },
      { once: true },
    ),
  );
}

/** Closes open dialogs as cancelled: the page under them is going away (removed from the room, sent to wait). */
export function closeDialogs(): void {
  for (const dialog of document.querySelectorAll("dialog[open]")) (dialog as HTMLDialogElement).close();
}
