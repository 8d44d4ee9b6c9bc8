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

/** Serves ACME http-01 answers at `http://<name>/.well-known/acme-challenge/<token>` (the gateway's webroot). */
export interface Http01Responder {
  present(token: string, keyAuthorization: string): Promise<void>;
  cleanup(token: string): Promise<void>;
}

export interface IssueOptions {
  /** How http-01 challenges are answered; an ACME issuer without one fails with a clear reason. */
  readonly http01?: Http01Responder;
  /** The certificate this one replaces (PEM), for ACME Renewal Information's `replaces` (RFC 9773 §5). */
  readonly replaces?: string;
  readonly signal?: AbortSignal;
}

/** ACME Renewal Information (RFC 9773): the CA's suggested renewal window for one certificate. */
export interface RenewalInfo {
  readonly windowStart: string;
  readonly windowEnd: string;
  /**
   * The point inside the window at which this client renews (RFC 9773 §4.2: chosen uniformly at random;
   * Phoenix derives it from the serial so that repeated runs agree).
   */
  readonly renewAfter: string;
  readonly explanationUrl?: string;
}

export interface IssuerDriver {
  readonly name: string;
  /** The root certificate(s) that verify what this issuer signs (PEM); read-only. */
  roots(): Promise<string>;
  issue(request: IssueRequest, options?: IssueOptions): Promise<Issued>;
  /** ARI for an issued certificate, when the CA offers it (read-only); undefined otherwise. */
  renewalInfo?(certPem: string): Promise<RenewalInfo | undefined>;
}

export const ISSUER_MUTATIONS = ['issue'] as const satisfies ReadonlyArray<keyof IssuerDriver>;
