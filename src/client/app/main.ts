import type { Room } from "../../protocol";
import { ApiError, api, session } from "./api";
import { announce, fill, h } from "./dom";
import { initialLanguage, type Language, language, refusalText, setLanguage, t } from "./i18n";
import { beginSignIn, finishSignIn } from "./oidc";
import { enterRoom } from "./room";

/**
 * The web client: one page. `/` is the start page (sign in, create a room, copy its links); `/?room=<id>` joins a
 * room (signed in), `/?room=<id>#invite=<code>` joins as a guest: the code is in the fragment, which browsers never
 * send, so it stays out of server and proxy logs (older links with `&invite=<code>` in the query still work). The
 * page removes the code from the address at once and keeps it for this tab only (sessionStorage), so a reload of
 * `/?room=<id>` still joins as that guest.
 */
const main = document.getElementById("main")!;
/** What a language change redraws: the current screen (a room relabels itself and stays connected). */
let redraw: () => void = () => void render();

async function render(): Promise<void> {
  const params = new URLSearchParams(location.search);
  if (params.has("code")) return completeSignIn(params);
  const roomId = params.get("room");
  const linked = takeInvite(params);
  if (roomId && linked) sessionStorage.setItem(inviteKey(roomId), linked);
  const invite = roomId ? sessionStorage.getItem(inviteKey(roomId)) : null;
  // A link opened now means "join as a guest"; a remembered code (a reload) must not override a signed-in session.
  if (roomId && invite && (linked || !session.token())) return guestJoin(roomId, invite);
  if (roomId && session.token()) return void join(roomId, { kind: "user", displayName: session.name() });
  await startPage(roomId);
}

/** Where this tab keeps a room's invite code once it has left the address. */
const inviteKey = (roomId: string) => `plenum.invite.${roomId}`;

/**
 * The invite code the address brought (`#invite=`, or `?invite=` from older links), if any; it is removed from the
 * address right away (query and fragment), so it does not stay in the history or get copied with the link.
 */
function takeInvite(query: URLSearchParams): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (!fragment.has("invite") && !query.has("invite")) return null;
  const invite = fragment.get("invite") || query.get("invite") || null;
  const rest = new URLSearchParams(query);
  rest.delete("invite");
  fragment.delete("invite");
  const [search, hash] = [rest.toString(), fragment.toString()];
  history.replaceState(history.state, "", `${location.pathname}${search && `?${search}`}${hash && `#${hash}`}`);
  return invite;
}

// An invitation link differing only in its fragment (pasted into this tab) does not load the page again: do so.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("invite")) location.reload();
});

/** Back from the identity provider: exchange the code, then go where the person was headed. */
async function completeSignIn(params: URLSearchParams): Promise<void> {
  try {
    const result = await finishSignIn(params);
    if (result) session.set(result.token, result.name);
    history.replaceState(null, "", result?.returnTo ? `/?room=${encodeURIComponent(result.returnTo)}` : "/");
  } catch (error) {
    history.replaceState(null, "", "/");
    fill(main, header(), h("h1", {}, t("appTitle")), errorBox(error));
    return;
  }
  await render();
}

function header(): HTMLElement {
  const select = h(
    "select",
    {
      id: "language",
      onchange: (event: Event) => {
        setLanguage((event.target as HTMLSelectElement).value as Language);
        redraw();
      },
    },
    h("option", { value: "de", selected: language() === "de" }, "Deutsch"),
    h("option", { value: "en", selected: language() === "en" }, "English"),
  );
  return h(
    "header",
    { class: "top" },
    h("span", { class: "brand" }, "Plenum"),
    h("label", { for: "language" }, t("language")),
    select,
  );
}

function errorBox(error: unknown): HTMLElement {
  // Refusals a person can act on read as a sentence; the code stays, small, for support.
  const sentence = error instanceof ApiError ? refusalText(error.code) : undefined;
  if (error instanceof ApiError && sentence)
    return h(
      "p",
      { class: "error", role: "alert" },
      t("error", { text: sentence }),
      " ",
      h("small", { class: "code" }, t("errorCode", { code: error.code })),
    );
  const text =
    error instanceof ApiError
      ? `${error.code}: ${error.message}`
      : error instanceof Error
        ? error.message
        : String(error);
  return h("p", { class: "error", role: "alert" }, t("error", { text }));
}

async function startPage(pendingRoom: string | null): Promise<void> {
  const status = h("div", { id: "status" });
  const token = session.token();
  if (!token) {
    const options = await api.authOptions().catch(() => ({ dev_login: false, oidc: [] }));
    const providers = options.oidc.map((login) =>
      h(
        "button",
        { type: "button", class: "provider", onclick: () => void beginSignIn(login, pendingRoom) },
        t("signInWith", { name: login.label }),
      ),
    );
    const name = h("input", { id: "name", name: "name", autocomplete: "name", required: true, maxlength: 100 });
    const form = cardForm(
      "sign-in-title",
      t("signInTitle"),
      t("signInDev"),
      status,
      async () => {
        const { access_token } = await api.devLogin(name.value.trim());
        session.set(access_token, name.value.trim());
        if (pendingRoom) return join(pendingRoom, { kind: "user", displayName: name.value.trim() });
        await render();
      },
      h("label", { for: "name" }, t("yourName")),
      name,
    );
    const providerCard =
      providers.length > 0
        ? h(
            "section",
            { class: "card", "aria-labelledby": "providers-title" },
            h("h2", { id: "providers-title" }, t("signInTitle")),
            ...providers,
          )
        : null;
    fill(main, header(), h("h1", {}, t("appTitle")), providerCard, options.dev_login ? form : null, status);
    return;
  }
  const roomName = h("input", { id: "room-name", name: "room-name", required: true, maxlength: 200 });
  const waiting = h(
    "select",
    { id: "waiting-room", name: "waiting-room" },
    h("option", { value: "disabled" }, t("waitingDisabled")),
    h("option", { value: "guests" }, t("waitingGuests")),
    h("option", { value: "everyone" }, t("waitingEveryone")),
  );
  const maxParticipants = h("input", {
    id: "max-participants",
    name: "max-participants",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: 1_000_000,
    step: 1,
    "aria-describedby": "max-participants-hint",
  });
  const created = h("div", { id: "created" });
  const rooms = myRooms();
  const form = cardForm(
    "create-title",
    t("createTitle"),
    t("create"),
    status,
    async () => {
      const limit = maxParticipants.value.trim();
      const room = await api.createRoom(roomName.value.trim(), waiting.value, limit ? Number(limit) : undefined);
      showCreated(created, room);
      void rooms.refresh();
    },
    h("label", { for: "room-name" }, t("roomName")),
    roomName,
    h("label", { for: "waiting-room" }, t("waitingRoomSetting")),
    waiting,
    h("label", { for: "max-participants" }, t("maxParticipants")),
    maxParticipants,
    h("p", { id: "max-participants-hint", class: "hint" }, t("maxParticipantsHint")),
  );
  const signedIn = h(
    "p",
    {},
    t("signedInAs", { name: session.name() }),
    " ",
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          session.clear();
          void render();
        },
      },
      t("signOut"),
    ),
  );
  fill(main, header(), h("h1", {}, t("appTitle")), signedIn, form, created, status, rooms.element);
  void rooms.refresh();
}

const roomUrl = (roomId: string) => `${location.origin}/?room=${encodeURIComponent(roomId)}`;

/**
 * "Your rooms": the rooms the signed-in user owns (newest first, as the server lists them), each a link that joins
 * it. `refresh` reloads the list; only the latest answer is shown, so an older one arriving late changes nothing.
 */
function myRooms(): { element: HTMLElement; refresh(): Promise<void> } {
  const content = h("div", {}, h("p", { id: "my-rooms-loading" }, t("loadingRooms")));
  const element = h(
    "section",
    { class: "card", id: "my-rooms-section", "aria-labelledby": "my-rooms-title" },
    h("h2", { id: "my-rooms-title" }, t("myRooms")),
    content,
  );
  let latest = 0;
  const refresh = async () => {
    const request = ++latest;
    element.setAttribute("aria-busy", "true");
    try {
      const { rooms, unavailable_shards } = await api.rooms();
      if (request !== latest) return;
      // A shard of the fleet that did not answer: its rooms are missing, which the list must not hide.
      const incomplete = unavailable_shards?.length
        ? h("p", { id: "my-rooms-incomplete", class: "notice", role: "status" }, t("roomsIncomplete"))
        : undefined;
      fill(
        content,
        incomplete,
        rooms.length === 0
          ? h("p", { id: "my-rooms-empty" }, t(incomplete ? "noRoomsFound" : "noRooms"))
          : h("ul", { id: "my-rooms" }, ...rooms.map(roomItem)),
      );
    } catch (error) {
      if (request === latest) fill(content, errorBox(error));
    } finally {
      if (request === latest) element.removeAttribute("aria-busy");
    }
  };
  return { element, refresh };
}

function roomItem(room: Room): HTMLLIElement {
  const created = new Date(room.created_at).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
  return h(
    "li",
    { "data-room": room.id },
    h("a", { href: roomUrl(room.id) }, room.name || t("unnamedRoom")),
    " ",
    h(
      "span",
      { class: "meta" },
      h("time", { datetime: room.created_at }, t("roomCreated", { date: created })),
      ", ",
      t("roomLimit", { count: room.participant_limit }),
    ),
  );
}

/** A titled form card; a failed submit shows its error in `status`. */
function cardForm(
  titleId: string,
  title: string,
  submitLabel: string,
  status: HTMLElement,
  submit: () => Promise<void>,
  ...fields: HTMLElement[]
): HTMLFormElement {
  return h(
    "form",
    {
      class: "card",
      "aria-labelledby": titleId,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        fill(status);
        try {
          await submit();
        } catch (error) {
          fill(status, errorBox(error));
        }
      },
    },
    h("h2", { id: titleId }, title),
    ...fields,
    h("button", { type: "submit" }, submitLabel),
  );
}

function linkField(id: string, label: string, url: string): HTMLElement {
  const input = h("input", { id, readonly: true, value: url });
  return h(
    "div",
    { class: "link-field" },
    h("label", { for: id }, label),
    input,
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          await navigator.clipboard?.writeText(url).catch(() => undefined);
          input.select();
          announce(t("copied"));
        },
      },
      t("copy"),
    ),
  );
}

function showCreated(target: HTMLElement, room: Room): void {
  const roomId = room.id;
  const url = roomUrl(roomId);
  const invites = h("div", {});
  fill(
    target,
    h("h2", {}, room.name || t("unnamedRoom")),
    h("p", { id: "created-limit" }, t("participantLimit", { count: room.participant_limit })),
    linkField("room-link", t("roomLink"), url),
    h(
      "button",
      {
        type: "button",
        id: "create-invite",
        onclick: async () => {
          const { invite_code, expires_at } = await api.invite(roomId);
          const until = new Date(expires_at).toLocaleString(language(), { dateStyle: "long", timeStyle: "short" });
          fill(
            invites,
            linkField("invite-link", t("inviteLink"), `${url}#invite=${encodeURIComponent(invite_code)}`),
            h("p", { id: "invite-expiry" }, t("inviteValidUntil", { date: until })),
          );
          (invites.querySelector("input") as HTMLInputElement).focus();
        },
      },
      t("createInvite"),
    ),
    invites,
    h("a", { class: "button", id: "join-room", href: url }, t("join")),
  );
  (target.querySelector("#room-link") as HTMLInputElement).focus();
}

function guestJoin(roomId: string, invite: string): void {
  const name = h("input", {
    id: "guest-name",
    name: "guest-name",
    autocomplete: "name",
    required: true,
    maxlength: 100,
  });
  const status = h("div", { id: "status" });
  const form = cardForm(
    "guest-title",
    t("guestTitle"),
    t("join"),
    status,
    () => join(roomId, { kind: "guest", invite, displayName: name.value.trim() }),
    h("label", { for: "guest-name" }, t("guestName")),
    name,
  );
  fill(main, header(), h("h1", {}, t("appTitle")), form, status);
  name.focus();
}

async function join(roomId: string, who: Parameters<typeof enterRoom>[2]): Promise<void> {
  fill(main, header(), h("p", { role: "status" }, t("joining")));
  redraw = () => fill(main, header(), h("p", { role: "status" }, t("joining")));
  const room = await enterRoom(main, roomId, who, header);
  redraw = () => room.relabel();
}

setLanguage(initialLanguage());
void render();
