import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { DisplayNameSchema, fail, ok, type Result } from "../protocol";
import type { Config, IssuerConfig } from "../shared/config";
import { DEV_AUDIENCE, publicKeys } from "../shared/keys";
import type { Principal } from "../shared/principal";
import { secretsEqual, sha256 } from "../shared/secrets";
import { devLoginShard } from "../shared/shards";

/** An identity provider's name claim, if it is one a participant could have typed (else the client asks). */
function displayNameOf(claim: unknown): string | undefined {
  const parsed = DisplayNameSchema.safeParse(typeof claim === "string" ? claim.slice(0, 100) : undefined);
  return parsed.success ? parsed.data : undefined;
}

/** Tolerated clock skew between us and an issuer. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** Key sets per issuer, kept for the isolate's life: jose caches fetched JWKS and refetches on unknown kid. */
const keySets = new Map<string, JWTVerifyGetKey>();

function keySetFor(issuer: IssuerConfig): JWTVerifyGetKey {
  let keys = keySets.get(issuer.issuer);
  if (!keys) {
    keys = issuer.jwks_uri
      ? createRemoteJWKSet(new URL(issuer.jwks_uri), { timeoutDuration: 5000, cooldownDuration: 30_000 })
      : createLocalJWKSet(issuer.jwks as JSONWebKeySet);
    keySets.set(issuer.issuer, keys);
  }
  return keys;
}

/**
 * The development issuer, when enabled, is one more trusted issuer; its key lives in a SigningKeyObject (in a fleet,
 * the first shard's: the others fetch its public keys).
 */
async function devIssuer(env: Env, config: Config): Promise<IssuerConfig> {
  if (!keySets.has(config.DEV_ISSUER_URL)) {
    const signer = devLoginShard(config);
    const keys = signer
      ? createRemoteJWKSet(new URL(`${signer.url}/v1/auth/dev-issuer/jwks`), {
          timeoutDuration: 5000,
          cooldownDuration: 30_000,
        })
      : await publicKeys(env, "dev-issuer");
    keySets.set(config.DEV_ISSUER_URL, keys);
  }
  return { issuer: config.DEV_ISSUER_URL, audience: DEV_AUDIENCE, algorithms: ["ES256"], tenant_claim: "tenant" };
}

/** Only an issuer whose own entry names an operator claim can make operators (never a tenant's by default). */
function isOperator(payload: JWTPayload, issuer: IssuerConfig): boolean {
  if (!issuer.operator_claim) return false;
  const split = issuer.operator_claim.indexOf("=");
  const [claim, value] = [issuer.operator_claim.slice(0, split), issuer.operator_claim.slice(split + 1)];
  const actual = payload[claim];
  return Array.isArray(actual) ? actual.includes(value) : actual === value;
}

/**
 * Verifies `Authorization: Bearer …`: the operator token from configuration, or an access token from a trusted
 * issuer (signature against its JWKS, issuer, audience, expiry, and only the issuer's allowed asymmetric algorithms,
 * so `alg: none` and HMAC-with-public-key tokens are refused).
 */
export async function authenticate(header: string | undefined, env: Env, config: Config): Promise<Result<Principal>> {
  const token = /^Bearer ([\x21-\x7e]{1,8192})$/.exec(header ?? "")?.[1];
  if (!token) return fail("unauthorized", "missing bearer token");
  if (config.OPERATOR_TOKEN && (await secretsEqual(token, config.OPERATOR_TOKEN))) {
    return ok({ tenant: "*", userKey: null, name: "operator", subject: "operator-token", operator: true });
  }
  let claimedIssuer: string | undefined;
  try {
    claimedIssuer = decodeJwt(token).iss;
  } catch {
    return fail("unauthorized", "bearer token is not a JWT");
  }
  const issuer =
    config.DEV_LOGIN === "enabled" && claimedIssuer === config.DEV_ISSUER_URL
      ? await devIssuer(env, config)
      : config.OIDC_ISSUERS.find((i) => i.issuer === claimedIssuer);
  if (!issuer) return fail("unauthorized", "token issuer is not trusted");
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySetFor(issuer), {
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: issuer.algorithms,
      requiredClaims: ["sub", "exp"],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (error) {
    const code = (error as { code?: string }).code ?? "ERR_JWT_INVALID";
    return fail("unauthorized", `token rejected (${code})`);
  }
  const tenantClaim = payload[issuer.tenant_claim];
  const name = payload.name ?? payload.preferred_username;
  return ok({
    tenant: `${issuer.issuer}#${typeof tenantClaim === "string" && tenantClaim ? tenantClaim : "default"}`,
    userKey: await sha256(`${issuer.issuer}\n${payload.sub}`),
    // A name the identity provider sends is shown to others: it must be one a participant could have typed.
    name: displayNameOf(name),
    subject: `${issuer.issuer}#${String(payload.sub).slice(0, 200)}`,
    operator: isOperator(payload, issuer),
  });
}
