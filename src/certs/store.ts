/** Phoenix's own copy of each certificate: the source that install targets are written from. */
export interface StoredCertificate {
  readonly keyPem: string;
  /** Leaf followed by intermediates. */
  readonly certPem: string;
  /** Intermediates and root. */
  readonly chainPem: string;
  /** Which issuer signed it (a certificate from another issuer is renewed). */
  readonly issuer: string;
}

export interface CertificateStore {
  load(name: string): Promise<StoredCertificate | undefined>;
  save(name: string, cert: StoredCertificate): Promise<void>;
}

export const CERT_STORE_MUTATIONS = ['save'] as const satisfies ReadonlyArray<keyof CertificateStore>;
