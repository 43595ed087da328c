type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | number | EventListener | undefined>;

/** Creates an element: attributes (on* are listeners, booleans toggle the attribute), then children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** Replaces an element's content. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

/**
 * Removes a list entry; if focus was inside it, it moves to the neighbouring entry's `control` (or `fallback`), so
 * a keyboard user working through a changing list keeps their place.
 */
export function removeKeepingFocus(item: Element, control: string, fallback: HTMLElement): void {
  const focused = item.contains(document.activeElement);
  const neighbour = item.nextElementSibling ?? item.previousElementSibling;
  item.remove();
  if (focused) (neighbour?.querySelector<HTMLElement>(control) ?? fallback).focus();
}

/**
 * Removes the entries of a list whose ids are no longer `present` (keeping the focus as `removeKeepingFocus`);
 * the panels' lists of people follow the room this way.
 */
export function dropMissing(
  entries: Map<string, { item: Element }>,
  present: ReadonlySet<string>,
  control: string,
  fallback: HTMLElement,
): void {
  for (const [id, entry] of [...entries]) {
    if (present.has(id)) continue;
    entries.delete(id);
    removeKeepingFocus(entry.item, control, fallback);
  }
}

/** Says something in the page's polite live region (screen readers announce it). */
export function announce(text: string): void {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A new node per message, so the same text twice is announced twice.
  region.append(h("p", {}, text));
}
