import type { AuthOptions } from "../../protocol";

type Login = AuthOptions["oidc"][number];
const PENDING_KEY = "plenum.oidc";

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = (length: number) => base64url(crypto.getRandomValues(new Uint8Array(length)));

/** Where the identity provider sends the browser back to (the start page; registered with the client). */
export const redirectUri = () => `${location.origin}/`;

/** Starts the authorization-code flow with PKCE (S256): remembers verifier, state and the room to return to. */
export async function beginSignIn(login: Login, returnTo: string | null): Promise<void> {
  const verifier = random(32);
  const state = random(16);
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  sessionStorage.setItem(
    PENDING_KEY,
    JSON.stringify({ verifier, state, tokenEndpoint: login.token_endpoint, clientId: login.client_id, returnTo }),
  );
  const url = new URL(login.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: login.client_id,
    redirect_uri: redirectUri(),
    scope: login.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/**
 * Completes a sign-in when the provider redirected back with `code` and `state`: exchanges the code (with the
 * verifier) for tokens. Returns the access token, a display name from the ID token, and the room to go to.
 */
export async function finishSignIn(
  params: URLSearchParams,
): Promise<{ token: string; name: string; returnTo: string | null } | undefined> {
  const code = params.get("code");
  const pending = sessionStorage.getItem(PENDING_KEY);
  if (!code || !pending) return undefined;
  sessionStorage.removeItem(PENDING_KEY);
  const { verifier, state, tokenEndpoint, clientId, returnTo } = JSON.parse(pending) as {
    verifier: string;
    state: string;
    tokenEndpoint: string;
    clientId: string;
    returnTo: string | null;
  };
  if (params.get("state") !== state) throw new Error("sign-in answer does not match the request (state)");
  const response = await fetch(tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: clientId,
      code_verifier: verifier,
    }),
  });
  if (!response.ok) throw new Error(`the identity provider refused the sign-in (${response.status})`);
  const tokens = (await response.json()) as { access_token?: string; id_token?: string };
  if (!tokens.access_token) throw new Error("the identity provider sent no access token");
  return { token: tokens.access_token, name: displayName(tokens.id_token ?? tokens.access_token), returnTo };
}

/** The name to show (from the token's claims; the server verifies the token itself, this is only a label). */
function displayName(jwt: string): string {
  try {
    const claims = JSON.parse(atob(jwt.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as Record<
      string,
      unknown
    >;
    return String(claims.name ?? claims.preferred_username ?? claims.sub ?? "");
  } catch {
    return "";
  }
}
