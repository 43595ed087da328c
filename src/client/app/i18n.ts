/** German and English UI texts; the browser's language picks one, the switch in the header changes it. */
const de = {
  appTitle: "Plenum – Videokonferenz",
  language: "Sprache",
  signInTitle: "Anmelden",
  yourName: "Ihr Name",
  signInDev: "Anmelden (Entwicklung)",
  signInWith: "Anmelden mit {name}",
  signedInAs: "Angemeldet als {name}",
  signOut: "Abmelden",
  createTitle: "Raum anlegen",
  roomName: "Name des Raums",
  waitingRoomSetting: "Warteraum",
  waitingDisabled: "aus",
  waitingGuests: "für Gäste",
  waitingEveryone: "für alle",
  create: "Anlegen",
  maxParticipants: "Höchstzahl Teilnehmender (optional)",
  maxParticipantsHint:
    "Leer lassen für die Voreinstellung des Servers. Gastgeber/innen und Moderation kommen auch in einen vollen Raum.",
  participantLimit: "Bis zu {count} Teilnehmende gleichzeitig.",
  myRooms: "Ihre Räume",
  loadingRooms: "Räume werden geladen …",
  noRooms: "Sie haben noch keine Räume angelegt.",
  unnamedRoom: "(ohne Namen)",
  roomCreated: "angelegt am {date}",
  roomLimit: "bis zu {count} Teilnehmende",
  roomLink: "Link zum Raum",
  inviteLink: "Einladungslink für Gäste",
  copy: "Link kopieren",
  copied: "Link kopiert.",
  createInvite: "Einladungslink erzeugen",
  inviteValidUntil: "Gültig bis {date}. Wer ihn hat, kann als Gast beitreten.",
  join: "Beitreten",
  guestTitle: "Als Gast beitreten",
  guestName: "Ihr Name (für andere sichtbar)",
  joining: "Verbindung wird aufgebaut …",
  waitingTitle: "Warteraum",
  waitingText: "Bitte warten Sie. Eine Moderatorin oder ein Moderator lässt Sie gleich herein.",
  connected: "Verbunden",
  reconnecting: "Verbindung unterbrochen – neuer Versuch …",
  ended: "Sie sind nicht mehr im Raum: {reason}",
  kicked: "Sie wurden aus dem Raum entfernt.",
  banned: "Sie wurden aus dem Raum ausgeschlossen.",
  meetingEnded: "Die Besprechung ist beendet.",
  roomDeleted: "Der Raum wurde gelöscht.",
  notAdmitted: "Sie wurden nicht eingelassen.",
  left: "Sie haben den Raum verlassen.",
  backHome: "Zur Startseite",
  microphone: "Mikrofon",
  camera: "Kamera",
  micOn: "Mikrofon an",
  camOn: "Kamera an",
  screenShare: "Bildschirm teilen",
  raiseHand: "Hand heben",
  leave: "Verlassen",
  devices: "Geräte",
  participants: "Teilnehmende",
  you: "Sie",
  handRaised: "Hand gehoben",
  speaking: "spricht",
  muted: "stumm",
  cameraOff: "Kamera aus",
  waitingList: "Im Warteraum",
  nobodyWaiting: "Niemand wartet.",
  accept: "Einlassen",
  reject: "Abweisen",
  chat: "Chat",
  message: "Nachricht",
  send: "Senden",
  videos: "Video",
  joinedNotice: "{names} ist beigetreten.",
  leftNotice: "{names} hat den Raum verlassen.",
  handNotice: "{name} hat die Hand gehoben.",
  waitingNotice: "{count} Person(en) im Warteraum.",
  waitingArrived: "Neu im Warteraum: {names} (insgesamt {count}).",
  waitingArrivedMany: "{added} Personen neu im Warteraum (insgesamt {count}).",
  role_owner: "Gastgeber/in",
  role_moderator: "Moderation",
  role_user: "Teilnehmer/in",
  role_guest: "Gast",
  error: "Fehler: {text}",
  errorCode: "Fehlercode: {code}",
  refusedFull: "Der Raum ist voll: Die Höchstzahl an Teilnehmenden ist erreicht. Bitte versuchen Sie es später erneut.",
  refusedWaitingRoomFull: "Der Warteraum ist voll. Bitte versuchen Sie es später erneut.",
  refusedConnections:
    "Sie sind schon mit zu vielen Geräten in diesem Raum. Verlassen Sie ihn auf einem anderen Gerät oder in einem " +
    "anderen Tab und versuchen Sie es dann erneut.",
  refusedQuota:
    "Sie können keine weiteren Räume anlegen: Die Höchstzahl Ihrer Räume ist erreicht. Nutzen Sie einen Ihrer " +
    "bestehenden Räume.",
};
type Texts = typeof de;

const en: Texts = {
  appTitle: "Plenum – video conference",
  language: "Language",
  signInTitle: "Sign in",
  yourName: "Your name",
  signInDev: "Sign in (development)",
  signInWith: "Sign in with {name}",
  signedInAs: "Signed in as {name}",
  signOut: "Sign out",
  createTitle: "Create a room",
  roomName: "Room name",
  waitingRoomSetting: "Waiting room",
  waitingDisabled: "off",
  waitingGuests: "for guests",
  waitingEveryone: "for everyone",
  create: "Create",
  maxParticipants: "Maximum participants (optional)",
  maxParticipantsHint:
    "Leave empty for the server's default. Hosts and moderators can join even when the room is full.",
  participantLimit: "Up to {count} participants at a time.",
  myRooms: "Your rooms",
  loadingRooms: "Loading rooms …",
  noRooms: "You have not created any rooms yet.",
  unnamedRoom: "(no name)",
  roomCreated: "created {date}",
  roomLimit: "up to {count} participants",
  roomLink: "Link to the room",
  inviteLink: "Invitation link for guests",
  copy: "Copy link",
  copied: "Link copied.",
  createInvite: "Create invitation link",
  inviteValidUntil: "Valid until {date}. Anyone who has it can join as a guest.",
  join: "Join",
  guestTitle: "Join as a guest",
  guestName: "Your name (shown to others)",
  joining: "Connecting …",
  waitingTitle: "Waiting room",
  waitingText: "Please wait. A moderator will let you in shortly.",
  connected: "Connected",
  reconnecting: "Connection lost – trying again …",
  ended: "You are no longer in the room: {reason}",
  kicked: "You were removed from the room.",
  banned: "You were banned from the room.",
  meetingEnded: "The meeting has ended.",
  roomDeleted: "The room was deleted.",
  notAdmitted: "You were not let in.",
  left: "You left the room.",
  backHome: "Back to the start page",
  microphone: "Microphone",
  camera: "Camera",
  micOn: "Microphone on",
  camOn: "Camera on",
  screenShare: "Share screen",
  raiseHand: "Raise hand",
  leave: "Leave",
  devices: "Devices",
  participants: "Participants",
  you: "you",
  handRaised: "hand raised",
  speaking: "speaking",
  muted: "muted",
  cameraOff: "camera off",
  waitingList: "In the waiting room",
  nobodyWaiting: "Nobody is waiting.",
  accept: "Let in",
  reject: "Turn away",
  chat: "Chat",
  message: "Message",
  send: "Send",
  videos: "Video",
  joinedNotice: "{names} joined.",
  leftNotice: "{names} left the room.",
  handNotice: "{name} raised their hand.",
  waitingNotice: "{count} waiting in the waiting room.",
  waitingArrived: "New in the waiting room: {names} ({count} waiting).",
  waitingArrivedMany: "{added} new in the waiting room ({count} waiting).",
  role_owner: "Host",
  role_moderator: "Moderator",
  role_user: "Participant",
  role_guest: "Guest",
  error: "Error: {text}",
  errorCode: "Error code: {code}",
  refusedFull: "The room is full: it has reached its maximum number of participants. Please try again later.",
  refusedWaitingRoomFull: "The waiting room is full. Please try again later.",
  refusedConnections:
    "You are already in this room on too many devices. Leave it on another device or in another tab, then try again.",
  refusedQuota:
    "You cannot create any more rooms: you have reached your maximum number of rooms. Use one of your " +
    "existing rooms.",
};

export type TextKey = keyof Texts;
export type Language = "de" | "en";
const TEXTS: Record<Language, Texts> = { de, en };
const STORAGE_KEY = "plenum.language";

export function initialLanguage(): Language {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === "de" || stored === "en") return stored;
  return navigator.languages.some((l) => l.toLowerCase().startsWith("de")) ? "de" : "en";
}

let current: Language = "en";

export function setLanguage(language: Language): void {
  current = language;
  localStorage.setItem(STORAGE_KEY, language);
  document.documentElement.lang = language;
  document.title = t("appTitle");
}

export const language = (): Language => current;

/** The text for `key` in the current language, with `{name}` placeholders filled. */
export function t(key: TextKey, values: Record<string, string | number> = {}): string {
  return TEXTS[current][key].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? ""));
}

const isTextKey = (key: string): key is TextKey => Object.hasOwn(de, key);

/** The text for a key built from a server value (e.g. `role_<role>`): a value this client does not know shows as is. */
export function textFor(key: string, fallback: string): string {
  return isTextKey(key) ? t(key) : fallback;
}

/** Refusals (REST error codes) the page explains in a sentence; other codes show as the server's code and message. */
const REFUSALS: Partial<Record<string, TextKey>> = {
  participant_limit_reached: "refusedFull",
  waiting_room_full: "refusedWaitingRoomFull",
  too_many_connections: "refusedConnections",
  quota_exceeded: "refusedQuota",
};

/** The sentence for a refusal the page explains (see REFUSALS), or undefined. */
export function refusalText(code: string): string | undefined {
  const key = Object.hasOwn(REFUSALS, code) ? REFUSALS[code] : undefined;
  return key ? t(key) : undefined;
}
