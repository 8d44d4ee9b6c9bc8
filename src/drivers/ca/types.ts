/** A certificate authority behind one interface: step-ca (JWK), ACME, or the in-memory test CA. */

export interface IssueRequest {
  readonly csrPem: string;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly usage: 'server' | 'client';
  readonly lifetimeSeconds?: number;
}

export interface Issued {
  /** Leaf certificate followed by intermediates. */
  readonly certPem: string;
  /** Intermediates and root: what a client needs to verify the leaf. */
  readonly chainPem: string;
}

export interface IssuerDriver {
  readonly name: string;
  /** The root certificate(s) that verify what this issuer signs (PEM); read-only. */
  roots(): Promise<string>;
  issue(request: IssueRequest): Promise<Issued>;
}

export const ISSUER_MUTATIONS = ['issue'] as const satisfies ReadonlyArray<keyof IssuerDriver>;
