import fc from "fast-check";
import { ACTIONS, FUZZED_ACTIONS } from "./frame-oracle";

/**
 * Generators of client → server frames for the fuzz tier. A frame is generated as JSON text with two kinds of
 * placeholders that `render` fills in when it is sent: the transaction id (each connection numbers its own, so
 * answers can be matched) and raw JSON tokens JSON.stringify cannot write (1e400, 30-digit integers, nesting
 * deeper than any object we would build).
 */

/** A frame before its transaction id is known, and who sends it (an index into the cast). */
export interface FrameSpec {
  sender: number;
  data: string | Uint8Array;
}

/** The participants of the fuzzed room, by sender index; `waiting` is the one held in the waiting room. */
export interface Cast {
  ids: readonly string[];
  waiting: number;
  maxFrameBytes: number;
  maxSdpBytes: number;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = Record<string, unknown>;

const TID = "\u0001tid\u0001";
const TID_JSON = JSON.stringify(TID);
/** A raw JSON token in place of a value (URI-encoded, so the token may contain anything). */
export const raw = (token: string) => `\u0001raw:${encodeURIComponent(token)}\u0001`;
const RAW_JSON = /"\\u0001raw:([^"\\]*)\\u0001"/g;

/** Raw JSON tokens put in by `raw`, written out. */
export const rawTokens = (text: string) => text.replace(RAW_JSON, (_m, token: string) => decodeURIComponent(token));

/** The frame's text with its transaction id (where the generator put the placeholder) and raw tokens. */
export function render(data: string | Uint8Array, tid: number): string | Uint8Array {
  if (typeof data !== "string") return data;
  return rawTokens(data.replaceAll(TID_JSON, String(tid)));
}

/** A field's value as text (objects of fast-check's records may lack a prototype: no String()). */
const text = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));

/** Sets a key as an own property, also `__proto__` (an assignment would set the prototype instead). */
export function withKey(object: Obj, key: string, value: unknown): Obj {
  const copy = { ...object };
  Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true });
  return copy;
}

const envelope = (namespace: unknown, payload: unknown, tid: unknown = TID): Obj => ({
  namespace,
  payload,
  transaction_id: tid,
});

// ── Building blocks ─────────────────────────────────────

/** Characters that break naive text handling: bidi controls, zero-width, C0/C1 controls, lone surrogates, … */
const ODD = [
  "\u202e",
  "\u202d",
  "\u2066",
  "\u2069",
  "\u200b",
  "\u200c",
  "\u200d",
  "\ufeff",
  "\u0000",
  "\u0007",
  "\u001b",
  "\u007f",
  "\u0085",
  "\u009f",
  "\u2028",
  "\u2029",
  "\ud800",
  "\udfff",
  "\ud83d",
  "\ufffe",
  "\uffff",
  "\u0301",
  "\u0336",
  "\u00ad",
  "\u180e",
  "\u3000",
  "\u00a0",
  "\t",
  "\n",
  "\r",
  " ",
  "👩‍👩‍👧‍👦",
  "🏳️‍🌈",
  "ﷺ",
  "\u{10ffff}",
  "\u{e0041}",
  "Z̤͔ͧ̑̓",
  "שלום",
  "مرحبا",
  "\\",
  '"',
  "%00",
  "{{x}}",
  "<script>",
  "'; DROP TABLE chat_messages; --",
];
const FORBIDDEN_CONTROL = ["\u0000", "\u0001", "\u0007", "\u000b", "\u001b", "\u007f", "\u0085", "\u009f", "\r"];

export const oddText = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...ODD) },
      { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
      { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
    ),
    { minLength: 1, maxLength: 30 },
  )
  .map((parts) => parts.join(""));

export const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  oddText,
);

const HUGE = [
  "1e400",
  "-1e400",
  "1e308",
  "-1e308",
  "1.7976931348623157e308",
  "5e-324",
  "1e-400",
  "123456789012345678901234567890",
  "-123456789012345678901234567890",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "-9007199254740992",
  "18446744073709551616",
  "4294967296",
  "-1",
  "-0",
  "0.5",
  "1.0",
  "1e2",
  "0e0",
  "1E+2",
];
export const hugeToken = fc.constantFrom(...HUGE);
const hugeNumber = hugeToken.map(raw);

const jsonValue = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

/** Values of every JSON type, for fields that expect another. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  anyString,
  fc.array(jsonValue, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), jsonValue, { maxKeys: 3 }),
  hugeNumber,
);

/** Nesting `depth` deep as a raw token: arrays, objects or both. */
export const nested = fc
  .record({ depth: fc.integer({ min: 1, max: 2500 }), shape: fc.constantFrom("array", "object", "mixed") })
  .map(({ depth, shape }) => {
    if (shape === "array") return "[".repeat(depth) + "]".repeat(depth);
    if (shape === "object") return `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`;
    const half = Math.ceil(depth / 2);
    return `${'[{"a":'.repeat(half)}null${"}]".repeat(half)}`;
  });

const KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "action ", "Action", "extra", ""];
export const extraKey = fc.oneof(fc.constantFrom(...KEYS), anyString);

// ── Valid commands ───────────────────────────────────────

const stream = fc.constantFrom("camera", "screen");
const wellFormedId = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);

/** A valid command of every namespace and action (valid by schema; the room's state decides the outcome). */
export function validCommand(cast: Cast): fc.Arbitrary<{ namespace: string; payload: Obj }> {
  const someone = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...cast.ids) },
    { weight: 1, arbitrary: wellFormedId },
  );
  // Letting the waiting participant in (or turning them away) would change the cast: the final check does that.
  const admitted = cast.ids.filter((_, i) => i !== cast.waiting);
  const chairTarget = fc.oneof(fc.constantFrom(...admitted), wellFormedId);
  const sdp = fc.oneof(
    fc.constant("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"),
    fc.string({ minLength: 1, maxLength: 200 }),
    fc.integer({ min: cast.maxSdpBytes - 10, max: cast.maxSdpBytes + 300 }).map((n) => "a".repeat(n)),
  );
  const optionalNullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
  const candidate = fc.record(
    {
      candidate: fc.oneof(fc.constant("candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host"), anyString),
      sdpMid: optionalNullable(fc.constantFrom("0", "1", "audio")),
      sdpMLineIndex: optionalNullable(fc.integer({ min: 0, max: 64 })),
      usernameFragment: optionalNullable(fc.string({ maxLength: 16 })),
    },
    { requiredKeys: ["candidate"] },
  );
  const chatContent = fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 80 }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }) },
    { weight: 2, arbitrary: oddText },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 3900, max: 4000 }).map((n) => "x".repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 1300 }).map((n) => "€".repeat(n)) },
  );
  const relay = fc.oneof(
    fc.record({ kind: fc.constantFrom("offer", "answer"), sdp }),
    fc.record({ kind: fc.constant("candidate"), candidate }),
    fc.record({ kind: fc.constant("end_of_candidates") }),
  );
  const cmd = (namespace: string, payload: fc.Arbitrary<Obj>, weight: number) => ({
    weight,
    arbitrary: payload.map((p) => ({ namespace, payload: p })),
  });
  return fc.oneof(
    cmd("control", fc.record({ action: fc.constantFrom("raise_hand", "lower_hand") }), 3),
    cmd("chat", fc.record({ action: fc.constant("send_message"), content: chatContent }), 6),
    cmd("turn", fc.constant({ action: "refresh" }), 1),
    cmd("moderation", fc.record({ action: fc.constantFrom("accept", "reject"), target: chairTarget }), 2),
    cmd("media", fc.record({ action: fc.constant("publish"), stream, audio: fc.boolean(), video: fc.boolean() }), 4),
    cmd("media", fc.record({ action: fc.constant("unpublish"), stream }), 2),
    cmd("media", fc.record({ action: fc.constant("subscribe"), target: someone, stream }), 2),
    cmd(
      "media",
      fc
        .tuple(fc.record({ action: fc.constant("relay"), target: someone, publisher: someone, stream }), relay)
        .map(([head, body]) => ({ ...head, ...body })),
      4,
    ),
    cmd("media", fc.record({ action: fc.constant("publish_offer"), stream, sdp }), 1),
    cmd(
      "media",
      fc.record({ action: fc.constant("subscribe_answer"), negotiation: fc.integer({ min: 1, max: 2 ** 40 }), sdp }),
      1,
    ),
    cmd(
      "media",
      fc.oneof(
        fc.record({ action: fc.constant("trickle"), direction: fc.constant("publish"), stream, candidate }),
        fc.record({
          action: fc.constant("trickle"),
          direction: fc.constant("subscribe"),
          candidate: fc.option(candidate, { nil: null }),
        }),
      ),
      1,
    ),
  );
}

/** JSON text of a frame, written in one of several equivalent ways (key order, spacing, escaped key names). */
const spelled = (frame: Obj, style: number): string => {
  if (style === 1) return JSON.stringify(frame, null, 2);
  if (style === 2) return JSON.stringify(Object.fromEntries(Object.entries(frame).reverse()));
  if (style === 3) return JSON.stringify(frame).replace('"action"', '"\\u0061ction"');
  return JSON.stringify(frame);
};

// ── Frame classes ───────────────────────────────────────

/** A generator of frame texts (before the sender is chosen). */
type Texts = fc.Arbitrary<string | Uint8Array>;

/** Valid commands, sent as text in several spellings, with a transaction id. */
const valid = (cast: Cast): Texts =>
  fc
    .tuple(validCommand(cast), fc.nat({ max: 7 }))
    .map(([c, style]) => spelled(envelope(c.namespace, c.payload), style < 4 ? style : 0));

/** Not JSON, or JSON text with one character inserted, removed or replaced. */
const randomText = (cast: Cast): Texts =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.string({ unit: "grapheme", maxLength: 100 }),
    anyString,
    fc.constantFrom("", " ", "{", "}", "[", "null", "undefined", "NaN", "{'a':1}", '{"namespace":', "\u0000"),
    fc
      .tuple(valid(cast), fc.nat(), fc.constantFrom("cut", "insert", "remove", "replace"), fc.string({ maxLength: 2 }))
      .map(([text, at, op, s]) => {
        const t = String(text);
        const i = at % (t.length + 1);
        if (op === "cut") return t.slice(0, i);
        if (op === "insert") return t.slice(0, i) + s + t.slice(i);
        if (op === "remove") return t.slice(0, i) + t.slice(i + 1);
        return t.slice(0, i) + (s || "\u0000") + t.slice(i + 1);
      }),
  );

/** Any JSON value: primitives, arrays, objects, objects that look a bit like frames. */
const randomJson = (): Texts =>
  fc.oneof(
    jsonValue.map((v) => JSON.stringify(v)),
    fc.object({ maxDepth: 2, values: [jsonValue] }).map((v) => JSON.stringify(v)),
    fc
      .record({ namespace: jsonValue, payload: jsonValue, transaction_id: jsonValue }, { requiredKeys: [] })
      .map((v) => JSON.stringify(v)),
  );

/** A valid frame whose envelope is broken in one place. */
const badEnvelope = (cast: Cast): Texts =>
  fc
    .tuple(
      validCommand(cast),
      fc.constantFrom(
        "namespace",
        "no-namespace",
        "payload",
        "no-payload",
        "action",
        "no-action",
        "tid",
        "extra",
        "wrap",
      ),
      wrongValue,
      extraKey,
    )
    .map(([c, where, value, key]) => {
      const frame = envelope(c.namespace, c.payload);
      switch (where) {
        case "namespace":
          return JSON.stringify({ ...frame, namespace: typeof value === "string" ? "x".repeat(65) : value });
        case "no-namespace":
          return JSON.stringify({ payload: c.payload, transaction_id: TID });
        case "payload":
          return JSON.stringify({ ...frame, payload: Array.isArray(value) || value === null ? value : [value] });
        case "no-payload":
          return JSON.stringify({ namespace: c.namespace, transaction_id: TID });
        case "action":
          return JSON.stringify(envelope(c.namespace, { ...c.payload, action: value === "" ? "a".repeat(65) : value }));
        case "no-action": {
          const { action: _action, ...rest } = c.payload;
          return JSON.stringify(envelope(c.namespace, rest));
        }
        case "tid":
          return JSON.stringify({ ...frame, transaction_id: value });
        case "extra":
          return JSON.stringify(withKey(frame, key === "" || key in frame ? `${key}_` : key, value));
        default:
          return JSON.stringify([frame]);
      }
    });

const PROTOTYPE_NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "prototype"];
const OTHER_NAMESPACES = ["polls", "legal_vote", "breakout", "timer", "automod", "recording", "subroom_audio", "error"];

/** Unknown namespaces and actions: prototype names, other products' namespaces, near misses, any string. */
const unknownNames = (cast: Cast): Texts => {
  const known = Object.keys(ACTIONS);
  const allActions = Object.values(FUZZED_ACTIONS).flat();
  const nearMiss = fc
    .constantFrom(...known)
    .chain((ns) =>
      fc.constantFrom(ns.toUpperCase(), ` ${ns}`, `${ns} `, `${ns}\u0000`, `${ns}\u200b`, ns.slice(1), `${ns}s`),
    );
  const namespace = fc.oneof(
    fc.constantFrom(...PROTOTYPE_NAMES, ...OTHER_NAMESPACES),
    nearMiss,
    fc.string({ minLength: 1, maxLength: 64 }),
  );
  const action = fc.oneof(
    fc.constantFrom(...PROTOTYPE_NAMES, ...allActions, "send_messages", "RAISE_HAND", "publish "),
    fc.string({ minLength: 1, maxLength: 64 }),
  );
  return fc.oneof(
    fc.tuple(namespace, validCommand(cast)).map(([ns, c]) => JSON.stringify(envelope(ns, c.payload))),
    fc
      .tuple(fc.constantFrom(...known), action, validCommand(cast))
      .map(([ns, a, c]) => JSON.stringify(envelope(ns, { ...c.payload, action: a }))),
  );
};

/** A valid command with one field missing, of another type, out of bounds, or an extra key. */
const wrongFields = (cast: Cast): Texts =>
  fc
    .tuple(
      validCommand(cast),
      fc.nat(),
      fc.constantFrom("drop", "extra", "retype", "bounds", "enum", "other-namespace"),
      wrongValue,
      extraKey,
      fc.constantFrom("", " ", "  \n\t ", "x".repeat(65), "y".repeat(1025), "z".repeat(4001), "Camera", "camera "),
      fc.constantFrom<unknown>(0, -1, 1.5, 65, 2 ** 53, -(2 ** 31), 1e21),
    )
    .map(([c, pick, op, value, key, text, number]) => {
      const fields = Object.keys(c.payload).filter((k) => k !== "action");
      const field = fields.length > 0 ? fields[pick % fields.length]! : undefined;
      let payload: Obj = { ...c.payload };
      if (op === "drop" && field !== undefined) delete payload[field];
      else if (op === "retype" && field !== undefined) payload[field] = value;
      else if (op === "bounds" && field !== undefined)
        payload[field] = typeof payload[field] === "number" ? number : text;
      else if (op === "enum") {
        for (const k of ["stream", "kind", "direction"]) if (k in payload) payload[k] = text || "mic";
        if (!["stream", "kind", "direction"].some((k) => k in payload)) payload = withKey(payload, "stream", "mic");
      } else if (op === "other-namespace") {
        const others = Object.keys(ACTIONS).filter((ns) => ns !== c.namespace);
        return JSON.stringify(envelope(others[pick % others.length], c.payload));
      } else payload = withKey(payload, key === "action" ? "action2" : key || "extra", value);
      return JSON.stringify(envelope(c.namespace, payload));
    });

/** Frames over the size limit: long chat messages in one- to four-byte characters, padded fields, big binaries. */
const oversized = (cast: Cast): Texts => {
  const limit = cast.maxFrameBytes;
  return fc.oneof(
    fc
      .tuple(fc.constantFrom("a", "é", "€", "😀", "\ud800"), fc.integer({ min: 1, max: 2 * limit }))
      .map(([char, extra]) => {
        const bytes = char === "😀" ? 4 : char === "a" ? 1 : char === "é" ? 2 : 3;
        const units = char.length;
        const count = Math.ceil((limit + extra) / bytes);
        const content = char.repeat(Math.min(count, Math.floor((4 * limit) / units)));
        return JSON.stringify(envelope("chat", { action: "send_message", content }));
      }),
    fc
      .tuple(validCommand(cast), fc.integer({ min: limit, max: 3 * limit }), extraKey)
      .map(([c, size, key]) =>
        JSON.stringify(withKey(envelope(c.namespace, c.payload), key || "pad", "p".repeat(size))),
      ),
    fc.integer({ min: limit + 1, max: 2 * limit }).map((size) => new Uint8Array(size).fill(0x7b)),
  );
};

/** Deeply nested JSON: as the whole frame, the payload, a field, the transaction id or an extra key. */
const deepNesting = (cast: Cast): Texts =>
  fc
    .tuple(
      validCommand(cast),
      nested,
      fc.constantFrom("frame", "payload", "field", "namespace", "tid", "extra", "extra-top", "action"),
      fc.nat(),
    )
    .map(([c, deep, where, pick]) => {
      const token = raw(deep);
      const fields = Object.keys(c.payload).filter((k) => k !== "action");
      const field = fields.length > 0 ? fields[pick % fields.length]! : "content";
      switch (where) {
        case "frame":
          return deep;
        case "payload":
          return JSON.stringify(envelope(c.namespace, token));
        case "field":
          return JSON.stringify(envelope(c.namespace, { ...c.payload, [field]: token }));
        case "namespace":
          return JSON.stringify(envelope(token, c.payload));
        case "tid":
          return JSON.stringify(envelope(c.namespace, c.payload, token));
        case "extra":
          return JSON.stringify(envelope(c.namespace, { ...c.payload, deep: token }));
        case "extra-top":
          return JSON.stringify({ ...envelope(c.namespace, c.payload), deep: token });
        default:
          return JSON.stringify(envelope(c.namespace, { ...c.payload, action: token }));
      }
    });

/** Numbers JSON.stringify cannot write, or beyond every bound: as transaction id, in numeric and other fields. */
const hugeNumbers = (cast: Cast): Texts =>
  fc
    .tuple(validCommand(cast), hugeToken, fc.constantFrom("tid", "field", "negotiation", "index", "frame"), fc.nat())
    .map(([c, number, where, pick]) => {
      const token = raw(number);
      const fields = Object.keys(c.payload).filter((k) => k !== "action");
      const field = fields.length > 0 ? fields[pick % fields.length]! : "extra";
      switch (where) {
        case "tid":
          return JSON.stringify(envelope(c.namespace, c.payload, token));
        case "field":
          return JSON.stringify(envelope(c.namespace, { ...c.payload, [field]: token }));
        case "negotiation":
          return JSON.stringify(envelope("media", { action: "subscribe_answer", negotiation: token, sdp: "v=0" }));
        case "index":
          return JSON.stringify(
            envelope("media", {
              action: "trickle",
              direction: "subscribe",
              candidate: { candidate: "candidate:1", sdpMLineIndex: token },
            }),
          );
        default:
          return number;
      }
    });

/** Odd Unicode where names and identifiers go, and chat text with control characters. */
const oddUnicode = (cast: Cast): Texts =>
  fc
    .tuple(
      validCommand(cast),
      oddText,
      fc.constantFrom("namespace", "action", "field", "key", "content"),
      fc.nat(),
      fc.constantFrom(...FORBIDDEN_CONTROL),
    )
    .map(([c, odd, where, pick, control]) => {
      const fields = Object.keys(c.payload).filter((k) => k !== "action");
      const field = fields.length > 0 ? fields[pick % fields.length]! : "target";
      switch (where) {
        case "namespace":
          return JSON.stringify(envelope(`${c.namespace}${odd}`, c.payload));
        case "action":
          return JSON.stringify(envelope(c.namespace, { ...c.payload, action: `${c.payload.action}${odd}` }));
        case "field":
          return JSON.stringify(envelope(c.namespace, { ...c.payload, [field]: `${text(c.payload[field])}${odd}` }));
        case "key":
          return JSON.stringify(envelope(c.namespace, withKey(c.payload, odd, true)));
        default: {
          const at = pick % (odd.length + 1);
          const content = `${odd.slice(0, at)}${control}${odd.slice(at)}`;
          return JSON.stringify(envelope("chat", { action: "send_message", content }));
        }
      }
    });

/** Binary frames: random bytes, or a valid command's bytes (frames are JSON text). */
const binary = (cast: Cast): Texts =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    valid(cast).map((text) => new TextEncoder().encode(String(text).replaceAll(TID_JSON, "1"))),
  );

/** Everything at once: valid commands between broken frames of every class. */
const mixed = (cast: Cast): Texts =>
  fc.oneof(
    { weight: 4, arbitrary: valid(cast) },
    ...[
      randomText,
      badEnvelope,
      unknownNames,
      wrongFields,
      oversized,
      deepNesting,
      hugeNumbers,
      oddUnicode,
      binary,
    ].map((make) => ({ weight: 1, arbitrary: make(cast) })),
    { weight: 1, arbitrary: randomJson() },
  );

/**
 * The classes of frames, one per batch. `invalid` classes hold only frames the room must refuse (generated frames
 * that happen to be valid commands are filtered out by the caller): stored state must not change across such a
 * batch. The others may change it, only as their successful commands say.
 */
export const FRAME_CLASSES: { name: string; invalid: boolean; texts: (cast: Cast) => Texts }[] = [
  { name: "valid commands", invalid: false, texts: valid },
  { name: "random text", invalid: true, texts: randomText },
  { name: "random JSON", invalid: true, texts: () => randomJson() },
  { name: "bad envelope", invalid: true, texts: badEnvelope },
  { name: "unknown namespace or action", invalid: true, texts: unknownNames },
  { name: "wrong fields", invalid: true, texts: wrongFields },
  { name: "oversized", invalid: true, texts: oversized },
  { name: "deep nesting", invalid: true, texts: deepNesting },
  { name: "huge numbers", invalid: true, texts: hugeNumbers },
  { name: "odd unicode", invalid: true, texts: oddUnicode },
  { name: "binary", invalid: true, texts: binary },
  { name: "mixed", invalid: false, texts: mixed },
];

/** Frames of one class, each with its sender (every participant sends, the waiting one too). */
export function framesOf(cast: Cast, texts: Texts): fc.Arbitrary<FrameSpec> {
  return fc.record({ sender: fc.nat({ max: cast.ids.length - 1 }), data: texts });
}
