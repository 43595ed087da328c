import fontkit from "@pdf-lib/fontkit";
import { decodeProtectedHeader } from "jose";
import {
  type Color,
  PageSizes,
  PDFDocument,
  type PDFFont,
  type PDFPage,
  popGraphicsState,
  pushGraphicsState,
  rgb,
  setLineWidth,
  setStrokingColor,
  setTextRenderingMode,
  TextRenderingMode,
} from "pdf-lib";
import type { VoteEntry, VoteEvent, VoteKind, VoteOption, VoteOutcome, VoteProtocol } from "../protocol/legal-vote";
import { DEJAVU_SANS_BASE64 } from "./report-font.generated";

/**
 * The PDF report of a finished legal vote ("Abstimmungsprotokoll"): a reading copy of its protocol document
 * (docs/votes.md), in German with short English glosses. Pure JS (pdf-lib, fontkit), so it renders inside workerd
 * as on Node. `reportLines` decides what the report says (pure, testable); the renderer only lays lines out:
 * A4, text wrapped by measured width, long lists continued on new pages, "Seite i von n" at the bottom. DejaVu
 * Sans is embedded as a subset; characters it lacks print as "?". It does not verify the protocol: its evidence
 * section says how to (`npm run verify-vote`).
 */

export interface ReportEvidence {
  /** The signing key's id; the one in the signature's protected header wins when it can be read. */
  kid: string;
  /** Where the deployment's vote keys are (`GET /v1/rooms/{id}/votes/keys`). */
  keysUrl: string;
  /** Where the protocol document can be fetched. */
  protocolUrl: string;
}

export type ReportSection = "head" | "topic" | "vote" | "result" | "ballots" | "attendance" | "issues" | "evidence";

/**
 * One logical line of the report. `field`: `label` and its value `text`; `table_header` and `row`: two columns,
 * `label` first and `text` second (rows continue under a repeated header on the next page); `code`: a command,
 * hash or address at full width (a `field` without text is its label). Texts may be long (they are wrapped) and
 * contain line feeds (hard breaks).
 */
export interface ReportLine {
  style:
    | "caption"
    | "title"
    | "subtitle"
    | "heading"
    | "paragraph"
    | "field"
    | "table_header"
    | "row"
    | "code"
    | "note";
  section: ReportSection;
  text: string;
  label?: string;
}

const OPTION_WORDS: Record<VoteOption, string> = { yes: "Ja / yes", no: "Nein / no", abstain: "Enthaltung / abstain" };
const NOT_VOTED = "nicht abgestimmt / did not vote";
const KIND_WORDS: Record<VoteKind, string> = {
  roll_call: "Namentliche Abstimmung / roll call",
  live_roll_call: "Namentliche Abstimmung mit laufendem Zwischenstand / live roll call",
  pseudonymous: "Pseudonyme Abstimmung / pseudonymous vote",
};
const MAJORITY_WORDS = {
  simple: "einfache Mehrheit: mehr Ja- als Nein-Stimmen / simple majority: more yes than no",
  absolute:
    "absolute Mehrheit: Ja-Stimmen von mehr als der Hälfte der Stimmberechtigten / " +
    "absolute majority: yes from more than half of those eligible",
  two_thirds:
    "Zweidrittelmehrheit: mindestens zwei Drittel der Ja- und Nein-Stimmen sind Ja / " +
    "two-thirds majority: at least two thirds of the yes and no votes are yes",
} as const;
const OUTCOME_WORDS: Record<VoteOutcome, string> = {
  accepted: "Angenommen / accepted",
  rejected: "Abgelehnt / rejected",
  no_quorum: "Nicht beschlussfähig, Quorum verfehlt / no quorum",
  canceled: "Abgebrochen / canceled",
};
const STOP_WORDS = {
  manual: "von Hand beendet / stopped manually",
  all_voted: "alle Stimmberechtigten haben abgestimmt / everyone eligible voted",
  expired: "Abstimmungszeit abgelaufen / time ran out",
} as const;
const ISSUE_WORDS = { audio: "Ton / audio", video: "Bild / video", screenshare: "Bildschirmfreigabe / screen share" };
const YES_NO = (b: boolean) => (b ? "ja / yes" : "nein / no");
const AUTOMATIC = "automatisch / automatically";

/** RFC 3339 → "2026-12-01 10:00:00 UTC" (the text as given when it is not a time). */
function time(at: string | null | undefined): string {
  if (!at) return "—";
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at;
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h && `${h} h`, m && `${m} min`, s && `${s} s`].filter(Boolean).join(" ");
}

/** The signing key's id from the JWS protected header, else the one passed in. */
function signingKid(signature: string, passed: string): string {
  try {
    const { kid } = decodeProtectedHeader(signature);
    if (typeof kid === "string" && kid !== "") return kid;
  } catch {
    // not a readable JWS: the report does not verify it anyway
  }
  return passed;
}

type Event<T extends VoteEvent["type"]> = Extract<VoteEvent, { type: T }>;
const entriesOf = <T extends VoteEvent["type"]>(protocol: VoteProtocol, type: T) =>
  protocol.entries.filter((e): e is VoteEntry & { event: Event<T> } => e.event.type === type);

/** What the report says, line by line (pure: no font, no PDF). */
export function reportLines(protocol: VoteProtocol, evidence: ReportEvidence): ReportLine[] {
  const { vote, result } = protocol;
  const lines: ReportLine[] = [];
  const add = (section: ReportSection, style: ReportLine["style"], text: string, label?: string) =>
    lines.push(label === undefined ? { style, section, text } : { style, section, text, label });
  const names = new Map([vote.initiator, ...vote.eligible].map((p) => [p.participant_id, p.display_name]));
  const nameOf = (id: string) => names.get(id) ?? id;
  const pseudonymous = vote.kind === "pseudonymous";

  add("head", "caption", "Abstimmungsprotokoll / Vote record");
  add("head", "title", vote.name);
  if (vote.subtitle) add("head", "subtitle", vote.subtitle);

  if (vote.topic) {
    add("topic", "heading", "Gegenstand / Topic");
    for (const paragraph of vote.topic.split(/\r\n|[\n\r\u2028\u2029]/)) add("topic", "paragraph", paragraph);
  }

  add("vote", "heading", "Abstimmung / Vote");
  add("vote", "field", vote.room_id, "Raum / Room");
  add("vote", "field", vote.id, "Abstimmung / Vote id");
  add("vote", "field", KIND_WORDS[vote.kind], "Art / Kind");
  add("vote", "field", vote.options.map((o) => OPTION_WORDS[o]).join(", "), "Optionen / Options");
  const { numerator, denominator } = vote.rule.quorum;
  const eligible = vote.eligible.length;
  const needed = Math.ceil((numerator * eligible) / denominator);
  add(
    "vote",
    "field",
    numerator === 0
      ? "kein Quorum / no quorum"
      : `${numerator}/${denominator} der Stimmberechtigten stimmen ab, Enthaltungen zählen mit ` +
          `(hier mindestens ${needed} von ${eligible}) / ${numerator}/${denominator} of those eligible vote, ` +
          `abstentions count (here at least ${needed} of ${eligible})`,
    "Quorum",
  );
  add("vote", "field", MAJORITY_WORDS[vote.rule.majority], "Mehrheit / Majority");
  add("vote", "field", vote.initiator.display_name, "Eingeleitet von / Initiator");
  add("vote", "field", time(vote.started_at), "Begonnen / Started");
  if (vote.duration_seconds !== null) add("vote", "field", duration(vote.duration_seconds), "Dauer / Duration");
  add("vote", "field", YES_NO(vote.auto_close), "Automatisches Ende / Auto close");
  const stopped = entriesOf(protocol, "stopped")[0];
  const canceled = entriesOf(protocol, "canceled")[0];
  if (stopped) {
    add("vote", "field", `${time(stopped.at)}, ${STOP_WORDS[stopped.event.reason]}`, "Beendet / Stopped");
    add("vote", "field", stopped.event.by === null ? AUTOMATIC : nameOf(stopped.event.by), "Beendet von / By");
  } else if (canceled) {
    add("vote", "field", time(canceled.at), "Abgebrochen / Canceled");
    add("vote", "field", canceled.event.by === null ? AUTOMATIC : nameOf(canceled.event.by), "Abgebrochen von / By");
    add("vote", "field", canceled.event.reason, "Grund / Reason");
  } else {
    add("vote", "field", "—", "Beendet / Stopped");
  }

  add("result", "heading", "Ergebnis / Result");
  add("result", "field", String(result.eligible), "Stimmberechtigt / Eligible");
  add("result", "field", String(result.cast), "Abgegeben / Cast");
  add("result", "field", String(result.yes), OPTION_WORDS.yes);
  add("result", "field", String(result.no), OPTION_WORDS.no);
  if (vote.options.includes("abstain") || result.abstain > 0) {
    add("result", "field", String(result.abstain), OPTION_WORDS.abstain);
  }
  add("result", "field", YES_NO(result.quorum_met), "Quorum erreicht / Quorum met");
  add("result", "field", OUTCOME_WORDS[result.outcome], "Ergebnis / Outcome");

  const ballots = entriesOf(protocol, "ballot");
  add("ballots", "heading", "Stimmen / Ballots");
  if (pseudonymous) {
    add(
      "ballots",
      "paragraph",
      "Jeder Stimmzettel trägt ein zufälliges Token statt eines Namens; dieser Bericht zeigt daher nicht, wer wie " +
        "abgestimmt hat. / Each ballot carries a random token, no name, so this report does not show who voted how.",
    );
    add("ballots", "field", String(ballots.length), "Stimmzettel / Ballots");
  } else {
    const byVoter = new Map(ballots.flatMap((b) => (b.event.voter ? [[b.event.voter, b.event.option] as const] : [])));
    add("ballots", "table_header", "Stimme / Vote", "Name");
    for (const person of vote.eligible) {
      const option = byVoter.get(person.participant_id);
      add("ballots", "row", option ? OPTION_WORDS[option] : NOT_VOTED, person.display_name);
    }
    // Ballots of voters who were not eligible make the protocol fail verification; the report still shows them.
    const listed = new Set(vote.eligible.map((p) => p.participant_id));
    for (const [voter, option] of byVoter) {
      if (!listed.has(voter))
        add("ballots", "row", `${OPTION_WORDS[option]} (nicht stimmberechtigt / not eligible)`, voter);
    }
  }

  const presence = entriesOf(protocol, "presence");
  if (presence.length > 0) {
    add("attendance", "heading", "Anwesenheit / Attendance");
    if (pseudonymous) {
      // Pseudonymous votes record attendance only once, at the end: who of the eligible was there.
      const away = presence.filter((p) => !p.event.present);
      add("attendance", "field", String(presence.length - away.length), "Anwesend am Ende / Present at the end");
      add("attendance", "field", String(away.length), "Abwesend am Ende / Away at the end");
    } else {
      add("attendance", "table_header", "Teilnehmer:in / Participant", "Zeit / Time");
      for (const p of presence) {
        const what = p.event.present ? "zurückgekehrt / returned" : "verlassen / left";
        add("attendance", "row", `${nameOf(p.event.participant_id)}: ${what}`, time(p.at));
      }
    }
  }

  const issues = entriesOf(protocol, "issue");
  add("issues", "heading", "Gemeldete Probleme / Issues reported");
  if (issues.length === 0) add("issues", "paragraph", "keine / none");
  for (const issue of issues) {
    const { kind, description, participant_id } = issue.event;
    const who = participant_id === null ? "anonym / anonymous" : nameOf(participant_id);
    const what = [kind ? ISSUE_WORDS[kind] : null, who].filter(Boolean).join(", ");
    add("issues", "field", description ? `${what}:\n${description}` : what, time(issue.at));
  }

  add("evidence", "heading", "Nachweis / Evidence");
  add("evidence", "field", protocol.format, "Format");
  add("evidence", "field", String(protocol.entries.length), "Einträge / Entries");
  add("evidence", "field", signingKid(protocol.signature, evidence.kid), "Schlüssel-ID / Key id (kid)");
  // Hashes and addresses below their label, at full width, so they wrap as little as possible.
  add("evidence", "field", "", "Kopf-Hash / Head hash");
  add("evidence", "code", protocol.head);
  add("evidence", "field", "", "Protokoll abrufen / Fetch the protocol");
  add("evidence", "code", evidence.protocolUrl);
  add("evidence", "field", "", "Schlüsselsatz / Key set");
  add("evidence", "code", evidence.keysUrl);
  add(
    "evidence",
    "paragraph",
    "Prüfen: das Protokoll als protocol.json speichern, die eigenen Quittungen dazulegen und ausführen: / " +
      "How to verify: save the protocol as protocol.json, add your receipts and run:",
  );
  add("evidence", "code", `npm run verify-vote -- protocol.json [receipt.json …] --keys-url ${evidence.keysUrl}`);
  add(
    "evidence",
    "note",
    "Dieser Bericht ist eine Lesefassung und prüft nichts; Nachweis sind das signierte Protokoll, die Quittungen " +
      "und die signierten Köpfe. / This report is a reading copy and verifies nothing; the evidence is the signed " +
      "protocol, the receipts and the signed heads.",
  );
  return lines;
}

// ── Font ─────────────────────────────

let fontBytes: Uint8Array | undefined;

/** DejaVu Sans as bytes, decoded from the generated module at first use. */
function reportFontBytes(): Uint8Array {
  if (!fontBytes) {
    const binary = atob(DEJAVU_SANS_BASE64);
    fontBytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) fontBytes[i] = binary.charCodeAt(i);
  }
  return fontBytes;
}

/** Embeds the report's font (DejaVu Sans, as a subset of the glyphs drawn) into `doc`. */
export async function embedReportFont(doc: PDFDocument): Promise<PDFFont> {
  doc.registerFontkit(fontkit);
  // A fixed subset tag (six capitals and "+", as PDF readers expect of a subset) keeps the output deterministic.
  return doc.embedFont(reportFontBytes(), { subset: true, customName: "PLENUM+DejaVuSans" });
}

const charsets = new WeakMap<PDFFont, ReadonlySet<number>>();
const INVISIBLE = /[\p{Cc}\p{Cf}]/u;
const SPACES = /[\t\n\r\f\v\u2028\u2029]/g;

/**
 * One line of user text as `font` can draw it: NFC, whitespace controls as spaces, other control and format
 * characters dropped (no bidi overrides), characters the font has no glyph for (and lone surrogates) as "?".
 */
export function printable(font: PDFFont, text: string): string {
  let charset = charsets.get(font);
  if (!charset) {
    charset = new Set(font.getCharacterSet());
    charsets.set(font, charset);
  }
  let out = "";
  for (const char of text.normalize("NFC").replace(SPACES, " ")) {
    if (INVISIBLE.test(char)) continue;
    out += charset.has(char.codePointAt(0)!) ? char : "?";
  }
  return out;
}

// ── Layout ─────────────────────────────

const [PAGE_WIDTH, PAGE_HEIGHT] = PageSizes.A4;
const MARGIN = 56.7; // 2 cm
const BOTTOM = 70; // above the footer
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN;
const LABEL_WIDTH = 180;
const NAME_WIDTH = 250;
const BLACK = rgb(0, 0, 0);
const GREY = rgb(0.35, 0.35, 0.35);

interface Look {
  size: number;
  bold?: boolean;
  color?: Color;
  /** Space above the line. */
  before: number;
  indent?: number;
}
const LOOKS: Record<ReportLine["style"], Look> = {
  caption: { size: 10, color: GREY, before: 0 },
  title: { size: 18, bold: true, before: 6 },
  subtitle: { size: 12.5, before: 3 },
  heading: { size: 12.5, bold: true, before: 16 },
  paragraph: { size: 10, before: 3 },
  field: { size: 10, before: 2.5 },
  table_header: { size: 10, bold: true, before: 4 },
  row: { size: 10, before: 1.5 },
  code: { size: 9.5, before: 4, indent: 14 },
  note: { size: 9, color: GREY, before: 8 },
};
const leading = (size: number) => size * 1.3;

/** Splits into hard lines, makes each printable, and wraps it greedily at `width` (words longer than it break). */
function wrap(font: PDFFont, text: string, size: number, width: number): string[] {
  const measure = (s: string) => font.widthOfTextAtSize(s, size);
  const space = measure(" ");
  const out: string[] = [];
  for (const hard of text.split(/\r\n|[\n\r\u2028\u2029]/)) {
    let line = "";
    let lineWidth = 0;
    const flush = () => {
      out.push(line);
      line = "";
      lineWidth = 0;
    };
    for (const word of printable(font, hard).split(" ")) {
      let w = measure(word);
      if (line !== "" && lineWidth + space + w <= width) {
        line += ` ${word}`;
        lineWidth += space + w;
        continue;
      }
      if (line !== "" || lineWidth > 0) flush();
      if (w <= width) {
        line = word;
        lineWidth = w;
        continue;
      }
      // A word wider than the line (a URL, a hash, text without spaces): break it between characters.
      let piece = "";
      w = 0;
      for (const char of word) {
        const cw = measure(char);
        if (piece !== "" && w + cw > width) {
          out.push(piece);
          piece = "";
          w = 0;
        }
        piece += char;
        w += cw;
      }
      line = piece;
      lineWidth = w;
    }
    out.push(line);
  }
  return out;
}

class Pages {
  readonly pages: PDFPage[] = [];
  private page!: PDFPage;
  private y = 0;
  /** The header of the table being laid out (repeated at the top of a continuation page). */
  tableHeader: ReportLine | undefined;

  constructor(
    private readonly doc: PDFDocument,
    private readonly font: PDFFont,
  ) {
    this.newPage();
  }

  private newPage() {
    this.page = this.doc.addPage([PAGE_WIDTH, PAGE_HEIGHT]);
    this.pages.push(this.page);
    this.y = PAGE_HEIGHT - MARGIN;
  }

  /** Room for `height` below the cursor, else a new page (with the current table's header repeated). */
  private room(height: number) {
    if (this.y - height >= BOTTOM) return;
    this.newPage();
    if (this.tableHeader) this.line(this.tableHeader, true);
  }

  draw(text: string, x: number, y: number, look: Look) {
    if (text === "") return;
    const color = look.color ?? BLACK;
    // Bold without a second font (the bundle carries only the regular face): fill and stroke the outlines.
    if (look.bold) {
      this.page.pushOperators(
        pushGraphicsState(),
        setTextRenderingMode(TextRenderingMode.FillAndOutline),
        setLineWidth(look.size * 0.035),
        setStrokingColor(color),
      );
    }
    this.page.drawText(text, { x, y, size: look.size, font: this.font, color });
    if (look.bold) this.page.pushOperators(popGraphicsState());
  }

  /** Lays out one line: wrapped, each visual line where it fits; headings keep a few lines below them. */
  line(line: ReportLine, repeated = false) {
    const look = LOOKS[line.style];
    const lead = leading(look.size);
    if (line.style !== "row" && line.style !== "table_header") this.tableHeader = undefined;
    if (line.style === "heading") this.room(look.before + lead + 4 * leading(10));
    if (line.style === "field" && line.text === "") this.room(look.before + lead + LOOKS.code.before + leading(9.5));
    if (line.style === "table_header" && !repeated) this.room(look.before + 2 * lead);
    const indent = look.indent ?? 0;
    const x = MARGIN + indent;
    const twoColumns = line.label !== undefined;
    const alone = line.style === "field" && line.text === "";
    const labelWidth = alone ? CONTENT_WIDTH - indent : line.style === "field" ? LABEL_WIDTH : NAME_WIDTH;
    const labels = twoColumns ? wrap(this.font, line.label!, look.size, labelWidth - 10) : [];
    const textX = twoColumns ? x + labelWidth : x;
    const texts = wrap(this.font, line.text, look.size, CONTENT_WIDTH - indent - (textX - x));
    const rows = Math.max(labels.length, texts.length);
    const atTop = () => this.y === PAGE_HEIGHT - MARGIN;
    // Short blocks stay together; paragraphs and long values continue on the next page where they must.
    if (line.style !== "paragraph" && rows <= 8 && !repeated) this.room((atTop() ? 0 : look.before) + rows * lead);
    for (let i = 0; i < rows; i++) {
      const before = () => (i > 0 || repeated || atTop() ? 0 : look.before);
      this.room(before() + lead);
      this.y -= before() + lead;
      const baseline = this.y + lead - look.size;
      const labelLook = line.style === "field" ? { ...look, bold: true } : look;
      this.draw(labels[i] ?? "", x, baseline, labelLook);
      this.draw(texts[i] ?? "", textX, baseline, look);
    }
    if (line.style === "heading") {
      this.page.drawLine({
        start: { x: MARGIN, y: this.y + 1 },
        end: { x: PAGE_WIDTH - MARGIN, y: this.y + 1 },
        thickness: 0.6,
        color: GREY,
      });
      this.y -= 3;
    }
    if (line.style === "table_header") {
      this.page.drawLine({
        start: { x: MARGIN, y: this.y + 1 },
        end: { x: PAGE_WIDTH - MARGIN, y: this.y + 1 },
        thickness: 0.4,
        color: GREY,
      });
      this.y -= 2;
      this.tableHeader = line;
    }
  }

  /** "Seite i von n / page i of n" at the bottom of every page, the vote's id on the left. */
  footers(voteId: string) {
    const look: Look = { size: 8.5, color: GREY, before: 0 };
    const n = this.pages.length;
    this.pages.forEach((page, i) => {
      this.page = page;
      const text = `Seite ${i + 1} von ${n} / page ${i + 1} of ${n}`;
      const width = this.font.widthOfTextAtSize(text, look.size);
      this.draw(printable(this.font, `Abstimmungsprotokoll / Vote record ${voteId}`), MARGIN, 36, look);
      this.draw(text, PAGE_WIDTH - MARGIN - width, 36, look);
    });
  }
}

/** The vote's end (stopped or canceled), else its result, else its start: the report's creation date. */
function reportDate(protocol: VoteProtocol): Date {
  const end = protocol.entries.find((e) => e.event.type === "stopped" || e.event.type === "canceled")?.at;
  const at = end ?? protocol.entries.findLast((e) => e.event.type === "result")?.at ?? protocol.vote.started_at;
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? new Date(0) : date;
}

/**
 * The PDF report of a finished vote: A4, DejaVu Sans embedded (subset), metadata title = the vote's name,
 * creation date = when it ended. Deterministic for the same protocol and evidence.
 */
export async function voteReport(protocol: VoteProtocol, evidence: ReportEvidence): Promise<Uint8Array> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  const font = await embedReportFont(doc);
  const date = reportDate(protocol);
  doc.setTitle(protocol.vote.name);
  doc.setSubject("Abstimmungsprotokoll / Vote record");
  doc.setCreator("Plenum");
  doc.setProducer("Plenum");
  doc.setLanguage("de");
  doc.setCreationDate(date);
  doc.setModificationDate(date);
  const pages = new Pages(doc, font);
  for (const line of reportLines(protocol, evidence)) pages.line(line);
  pages.footers(protocol.vote.id);
  return doc.save();
}
