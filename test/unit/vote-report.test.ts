import { PDFDict, PDFDocument, PDFName } from "pdf-lib";
import { describe, expect, it } from "vitest";
import {
  VOTE_PROTOCOL_FORMAT,
  type VoteDescription,
  type VoteEntry,
  type VoteEvent,
  type VoteKind,
  type VoteOption,
  type VoteProtocol,
  VoteProtocolSchema,
  type VoteRule,
} from "../../src/protocol/legal-vote";
import { nextEntry, resultOf } from "../../src/votes/chain";
import { embedReportFont, printable, type ReportLine, reportLines, voteReport } from "../../src/votes/report";

/**
 * The PDF vote report (src/votes/report.ts): a realistic protocol written with the chain helpers (the signature
 * is only syntactically a JWS: the report does not verify it), 120 eligible voters with names in several scripts,
 * one the font lacks (CJK), and a topic long enough to wrap over many lines.
 */

/** Protected header `{"alg":"ES256","kid":"k1"}`. */
const SIGNATURE = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln";
const EVIDENCE = {
  kid: "passed-kid",
  keysUrl: "https://plenum.example/v1/rooms/room0000001/votes/keys",
  protocolUrl: "https://plenum.example/v1/rooms/room0000001/votes/vote0000001/protocol",
};
const RULE: VoteRule = { quorum: { numerator: 1, denominator: 2 }, majority: "simple" };
const SPECIAL = ["Łukasz Ğündüz", "Zoë Ångström", "李小龍"];
const ELIGIBLE = Array.from({ length: 120 }, (_, i) => ({
  participant_id: `voter${String(i).padStart(5, "0")}`,
  display_name: SPECIAL[i] ?? `Mitglied ${i + 1} Müller-Lüdenscheidt`,
}));
const INITIATOR = { participant_id: "chair0000001", display_name: "Vorsitz Renée Öztürk" };
const VOTED = 100;
const optionOf = (i: number): VoteOption => (["yes", "no", "abstain", "yes"] as const)[i % 4]!;
const tokenOf = (i: number) => `tok${String(i).padStart(4, "0")}-0123456789abcdef`;
const at = (second: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, second)).toISOString();
const STOPPED_AT = at(500);

const TOPIC = (() => {
  const sentence =
    "Der Ausschuss beschließt die Änderung der Geschäftsordnung gemäß § 12 Abs. 3 und ersucht die Verwaltung, " +
    "bis zur nächsten Sitzung einen Bericht über die Umsetzung vorzulegen. ";
  let text = "Beschlussvorlage 2026/117\n";
  while (text.length < 3000) text += sentence;
  return text.slice(0, 3000);
})();

async function protocolOf(kind: VoteKind, end: "stopped" | "canceled" = "stopped"): Promise<VoteProtocol> {
  const pseudonymous = kind === "pseudonymous";
  const vote: VoteDescription = {
    id: "vote0000001",
    room_id: "room0000001",
    name: "Änderung der Geschäftsordnung – Łódź/İzmir",
    subtitle: "Tagesordnungspunkt 4 (Ausschuss für Digitales)",
    topic: TOPIC,
    kind,
    options: ["yes", "no", "abstain"],
    rule: RULE,
    eligible: ELIGIBLE,
    initiator: INITIATOR,
    started_at: at(0),
    duration_seconds: 600,
    auto_close: true,
  };
  const events: { at: string | null; event: VoteEvent }[] = [{ at: at(0), event: { type: "started", vote } }];
  const counts = { yes: 0, no: 0, abstain: 0, eligible: ELIGIBLE.length };
  for (let i = 0; i < VOTED; i++) {
    const option = optionOf(i);
    counts[option]++;
    events.push(
      pseudonymous
        ? { at: null, event: { type: "ballot", token: tokenOf(i), option } }
        : { at: at(10 + i), event: { type: "ballot", voter: ELIGIBLE[i]!.participant_id, option } },
    );
    if (i === 50) {
      const who = ELIGIBLE[110]!.participant_id;
      // Roll calls record leaving and coming back; pseudonymous votes only who is there at the end (below).
      if (!pseudonymous) {
        events.push({ at: at(200), event: { type: "presence", participant_id: who, present: false } });
        events.push({ at: at(260), event: { type: "presence", participant_id: who, present: true } });
      }
      events.push({
        at: at(270),
        event: {
          type: "issue",
          kind: "audio",
          description: "Kein Ton seit 10:04.\nBitte prüfen — 李 sagt: 聽不到",
          participant_id: pseudonymous ? null : ELIGIBLE[1]!.participant_id,
        },
      });
    }
  }
  if (pseudonymous) {
    for (const [i, person] of ELIGIBLE.entries()) {
      const event = { type: "presence", participant_id: person.participant_id, present: i !== 110 } as const;
      events.push({ at: STOPPED_AT, event });
    }
  }
  events.push(
    end === "stopped"
      ? { at: STOPPED_AT, event: { type: "stopped", by: INITIATOR.participant_id, reason: "manual" } }
      : { at: STOPPED_AT, event: { type: "canceled", by: INITIATOR.participant_id, reason: "Technische Störung" } },
  );
  const result = resultOf(RULE, counts, end === "canceled");
  events.push({ at: STOPPED_AT, event: { type: "result", result } });
  const entries: VoteEntry[] = [];
  for (const { at, event } of events) entries.push(await nextEntry(entries.at(-1), at, event));
  return VoteProtocolSchema.parse({
    format: VOTE_PROTOCOL_FORMAT,
    vote,
    entries,
    result,
    head: entries.at(-1)!.hash,
    signature: SIGNATURE,
  });
}

const texts = (lines: ReportLine[]) => lines.flatMap((l) => [l.text, l.label ?? ""]);

describe("vote report (PDF)", () => {
  it("renders a roll call over several A4 pages with DejaVu Sans embedded and metadata set", async () => {
    const protocol = await protocolOf("roll_call");
    const bytes = await voteReport(protocol, EVIDENCE);
    expect(new TextDecoder().decode(bytes.slice(0, 5))).toBe("%PDF-");

    const doc = await PDFDocument.load(bytes, { updateMetadata: false });
    expect(doc.getPageCount()).toBeGreaterThanOrEqual(3);
    const [width, height] = [doc.getPage(0).getWidth(), doc.getPage(0).getHeight()];
    expect([Math.round(width), Math.round(height)]).toEqual([595, 842]);
    expect(doc.getTitle()).toBe(protocol.vote.name);
    expect(doc.getProducer()).toBe("Plenum");
    expect(doc.getCreator()).toBe("Plenum");
    expect(doc.getCreationDate()?.toISOString()).toBe(STOPPED_AT);

    // The font is DejaVu Sans, embedded (a FontFile2 in its descriptor), and the only font of the document.
    const dicts = doc.context.enumerateIndirectObjects().flatMap(([, o]) => (o instanceof PDFDict ? [o] : []));
    const fonts = dicts.filter((d) => d.get(PDFName.of("Type")) === PDFName.of("Font"));
    expect(fonts.length).toBeGreaterThan(0);
    for (const font of fonts) expect(String(font.get(PDFName.of("BaseFont")))).toMatch(/^\/(\w{6}\+)?DejaVuSans/);
    const descriptors = dicts.filter((d) => d.get(PDFName.of("Type")) === PDFName.of("FontDescriptor"));
    expect(descriptors).toHaveLength(1);
    expect(String(descriptors[0]!.get(PDFName.of("FontName")))).toMatch(/DejaVuSans/);
    expect(descriptors[0]!.get(PDFName.of("FontFile2"))).toBeDefined();

    // Deterministic: the same protocol gives the same bytes.
    expect(await voteReport(protocol, EVIDENCE)).toEqual(bytes);
  });

  it("prints what the font has and replaces what it lacks, never crashing on free text", async () => {
    const doc = await PDFDocument.create();
    const font = await embedReportFont(doc);
    expect(printable(font, "Łukasz Ğündüz")).toBe("Łukasz Ğündüz");
    expect(printable(font, "Zoë Ångström")).toBe("Zoë Ångström");
    expect(printable(font, "Zoe\u0308")).toBe("Zoë"); // decomposed: composed (NFC)
    expect(printable(font, "李")).toBe("?");
    expect(printable(font, "李小龍")).toBe("???");
    expect(printable(font, "a\u202eb\u0007c\td\u200b")).toBe("abc d"); // bidi override, bell, tab, zero width
    expect(printable(font, "x\ud800y")).toBe("x?y"); // a lone surrogate
    const page = doc.addPage();
    page.drawText(printable(font, "李小龍 😀 Łukasz"), { font, size: 10, x: 10, y: 10 });
    await expect(doc.save()).resolves.toBeInstanceOf(Uint8Array);
  });

  it("lists every eligible voter of a roll call with their option", async () => {
    const protocol = await protocolOf("live_roll_call");
    const lines = reportLines(protocol, EVIDENCE);
    const rows = lines.filter((l) => l.section === "ballots" && l.style === "row");
    expect(rows).toHaveLength(ELIGIBLE.length);
    const words = { yes: "Ja / yes", no: "Nein / no", abstain: "Enthaltung / abstain" };
    ELIGIBLE.forEach((person, i) => {
      expect(rows[i]).toMatchObject({
        label: person.display_name,
        text: i < VOTED ? words[optionOf(i)] : "nicht abgestimmt / did not vote",
      });
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ section: "head", style: "title", text: protocol.vote.name }),
    );
    const topic = lines.filter((l) => l.section === "topic" && l.style === "paragraph").map((l) => l.text);
    expect(topic.join("\n")).toBe(TOPIC);
    const evidence = lines.filter((l) => l.section === "evidence");
    expect(evidence).toContainEqual(expect.objectContaining({ text: protocol.head }));
    expect(evidence).toContainEqual(expect.objectContaining({ text: "k1" })); // from the JWS header
    expect(evidence).toContainEqual(expect.objectContaining({ text: String(protocol.entries.length) }));
    expect(evidence.map((l) => l.text)).toContain(
      `npm run verify-vote -- protocol.json [receipt.json …] --keys-url ${EVIDENCE.keysUrl}`,
    );
    expect(evidence.map((l) => l.text)).toContain(EVIDENCE.protocolUrl);
    const issues = lines.filter((l) => l.section === "issues" && l.style === "field");
    expect(issues).toHaveLength(1);
    expect(issues[0]!.text).toContain(SPECIAL[1]);
    const attendance = lines.filter((l) => l.section === "attendance" && l.style === "row");
    expect(attendance.map((l) => l.text)).toEqual([
      `${ELIGIBLE[110]!.display_name}: verlassen / left`,
      `${ELIGIBLE[110]!.display_name}: zurückgekehrt / returned`,
    ]);
  });

  it("shows no names and no tokens for the ballots of a pseudonymous vote, and still renders", async () => {
    const protocol = await protocolOf("pseudonymous");
    const lines = reportLines(protocol, EVIDENCE);
    const ballots = texts(lines.filter((l) => l.section === "ballots"));
    expect(ballots.join(" ")).toContain("Token");
    expect(lines).toContainEqual(expect.objectContaining({ section: "ballots", text: String(VOTED) }));
    const everything = texts(lines).join("\n");
    for (const person of ELIGIBLE) {
      for (const text of ballots) expect(text).not.toContain(person.display_name);
    }
    for (let i = 0; i < VOTED; i++) expect(everything).not.toContain(tokenOf(i));
    // Attendance as counts, issues without their reporter.
    const attendance = texts(lines.filter((l) => l.section === "attendance")).join("\n");
    expect(attendance).not.toContain(ELIGIBLE[110]!.display_name);
    expect(lines.filter((l) => l.section === "attendance" && l.style === "field").map((l) => l.text)).toEqual([
      String(ELIGIBLE.length - 1),
      "1",
    ]);
    expect(texts(lines.filter((l) => l.section === "issues")).join("\n")).toContain("anonym / anonymous");

    const doc = await PDFDocument.load(await voteReport(protocol, EVIDENCE));
    expect(doc.getPageCount()).toBeGreaterThanOrEqual(2);
  });

  it("reports a canceled vote with who canceled it and why", async () => {
    const protocol = await protocolOf("roll_call", "canceled");
    const lines = reportLines(protocol, EVIDENCE).filter((l) => l.section === "vote" || l.section === "result");
    expect(lines).toContainEqual(expect.objectContaining({ label: "Grund / Reason", text: "Technische Störung" }));
    expect(lines).toContainEqual(
      expect.objectContaining({ text: INITIATOR.display_name, label: "Abgebrochen von / By" }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ label: "Ergebnis / Outcome", text: "Abgebrochen / canceled" }),
    );
    const doc = await PDFDocument.load(await voteReport(protocol, EVIDENCE));
    expect(doc.getCreationDate()?.toISOString()).toBe(STOPPED_AT);
  });
});
