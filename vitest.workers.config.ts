import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { exportJWK, generateKeyPair } from "jose";
import { defineConfig } from "vitest/config";

// A real key pair for a test OIDC issuer whose JWKS is configured inline (the remote-JWKS path is exercised by the
// integration tier against an HTTP JWKS endpoint). Tests sign tokens with the private half.
const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
const publicJwk = { ...(await exportJWK(publicKey)), kid: "test-key", alg: "RS256", use: "sig" };
const privateJwk = { ...(await exportJWK(privateKey)), kid: "test-key", alg: "RS256" };

export const TEST_ISSUER = "https://idp.test.example/realms/land";
/** The operators' own issuer: the only one whose entry grants operator rights (tests sign with the same key). */
export const TEST_OPERATOR_ISSUER = "https://idp.test.example/realms/betrieb";

/** The in-workerd tier's fixed bindings; other tests rely on these values. */
const BINDINGS: Record<string, string> = {
  DEV_LOGIN: "enabled",
  ALLOWED_ORIGINS: "https://plenum.test",
  OIDC_ISSUERS: JSON.stringify([
    {
      issuer: TEST_ISSUER,
      audience: "plenum",
      jwks: { keys: [publicJwk] },
      algorithms: ["RS256"],
      tenant_claim: "org",
    },
    {
      issuer: TEST_OPERATOR_ISSUER,
      audience: "plenum",
      jwks: { keys: [publicJwk] },
      algorithms: ["RS256"],
      operator_claim: "plenum_role=operator",
    },
  ]),
  OPERATOR_TOKEN: "operator-token-for-tests-0123456789abcdef",
  // The whole tier runs with secrets sealed at rest (a fixed test key; rotation is in the integration tier).
  STATE_ENCRYPTION_KEY: "RLiJK_F3KqGdv2ZuXWJWw8bGdLQEqbcqygxhygnvfkI",
  CLIENT_IP_HEADER: "x-test-client",
  // Wide enough that a burst of parallel joins (each minting TURN credentials) shares batches.
  PRESENCE_BATCH_MS: "100",
  ATTEMPT_LIMIT: "5",
  // The per-process cap on password checks is tested in the integration tier, on a process of its own.
  PASSWORD_CHECKS_PER_SECOND: "1000",
  RATE_LIMIT_STRIKES: "40",
  MAX_FRAME_BYTES: "4096",
  MAX_SDP_BYTES: "2048",
  // Small bounds, so the tests reach them with a few participants and messages.
  ROOM_MAX_PARTICIPANTS: "50",
  WAITING_ROOM_MAX: "3",
  CHAT_JOIN_HISTORY_BYTES: "8192",
  CHAT_HISTORY_LIMIT: "20",
  // Long enough that a test ends a feedback window only through the room's timers (fireTimers).
  FEEDBACK_WINDOW_SECONDS: "600",
  TURN_NODES: JSON.stringify([
    // Probes go to a closed loopback port: nothing leaves the machine (the e2e tier probes real coturn).
    { id: "east-1", region: "de-east", host: "turn-east.plenum.test", probe: "127.0.0.1:9" },
    { id: "west-1", region: "de-west", host: "turn-west.plenum.test", tls_port: null, probe: "127.0.0.1:9" },
  ]),
  TURN_TTL_SECONDS: "300",
  REGION_RULES: JSON.stringify({ header: "x-test-region", neighbours: { "de-east": ["de-west"] } }),
  TEST_PRIVATE_JWK: JSON.stringify(privateJwk),
  TEST_PUBLIC_JWK: JSON.stringify(publicJwk),
  TEST_ISSUER,
  TEST_OPERATOR_ISSUER,
};

/**
 * The pool plugin of the in-workerd tiers: the worker and its objects with the fixed bindings, `overrides` on top
 * (the fuzz tier raises the rate limit, vitest.fuzz.config.ts).
 */
export function workersPool(overrides: Record<string, string> = {}) {
  return cloudflareTest({
    main: "./src/index.ts",
    wrangler: { configPath: "./wrangler.toml" },
    miniflare: { bindings: { ...BINDINGS, ...overrides } },
  });
}

export default defineConfig({
  plugins: [workersPool()],
  test: {
    include: ["test/workers/**/*.test.ts"],
    // Password hashing (PBKDF2, 100,000 rounds) is slow on two busy cores; liveness limits, not speed checks.
    testTimeout: 30_000,
  },
});
