/** An authenticated caller, as the worker hands it to room objects over RPC. */
export interface Principal {
  /** Issuer plus tenant claim; rooms of other tenants do not exist for this caller. */
  tenant: string;
  /** Stable, opaque key of the user (hash of issuer and subject); null for the operator token. */
  userKey: string | null;
  name: string | undefined;
  /** Who acts, for operator logs: `operator-token`, or the issuer and the token's subject (never a secret). */
  subject: string;
  operator: boolean;
}
