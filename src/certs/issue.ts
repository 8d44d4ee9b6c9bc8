import type { IssueOptions, IssuerDriver } from '../drivers/ca/types.js';
import { DriverError } from '../drivers/errors.js';
import type { Certificate } from '../model/inventory.js';
import type { CertificateStore, StoredCertificate } from './store.js';
import { createCsr, generateKey, keyMatchesCert } from './x509.js';

/**
 * One issuance: a key made here (it never leaves the machine), a CSR for exactly the configured names,
 * the issuer's signature, a check that what came back belongs to that key, and the store's atomic save.
 */
export async function issueAndStore(
  issuer: IssuerDriver,
  store: CertificateStore,
  cert: Certificate,
  options: IssueOptions = {},
): Promise<StoredCertificate> {
  const key = await generateKey(cert.keyType);
  const names = { commonName: cert.commonName, dnsNames: cert.dnsNames, ipAddresses: cert.ipAddresses };
  const csrPem = await createCsr(key.keyPem, names);
  const issued = await issuer.issue(
    { csrPem, ...names, usage: cert.usage, lifetimeSeconds: cert.lifetimeSeconds },
    options,
  );
  if (!(await keyMatchesCert(key.keyPem, issued.certPem))) {
    throw new DriverError(
      `issuer ${cert.issuer} returned a certificate that does not match the key it was asked to sign`,
    );
  }
  const stored = {
    keyPem: key.keyPem,
    certPem: issued.certPem,
    chainPem: issued.chainPem,
    issuer: cert.issuer,
  };
  await store.save(cert.name, stored);
  return stored;
}
