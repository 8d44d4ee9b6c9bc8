import type { CertObservation } from './policy.js';
import type { StoredCertificate } from './store.js';
import { keyMatchesCert, parseCertificate, type ParsedCertificate } from './x509.js';

/**
 * What the stored copy itself says, as of `at`: the facts the renewal policy decides on. The cert resource
 * adds what only the CA knows (its current root, its renewal advice); `certs list` uses this alone.
 */
export async function observeStored(
  stored: StoredCertificate | undefined,
  at: string,
): Promise<{ observation: CertObservation; parsed?: ParsedCertificate }> {
  if (!stored) return { observation: { at, stored: false } };
  try {
    const parsed = await parseCertificate(stored.certPem);
    return {
      parsed,
      observation: {
        at,
        stored: true,
        issuer: stored.issuer,
        pairMatches: await keyMatchesCert(stored.keyPem, stored.certPem),
        facts: {
          serial: parsed.serial,
          notBefore: parsed.notBefore.toISOString(),
          notAfter: parsed.notAfter.toISOString(),
          dnsNames: parsed.dnsNames,
          ipAddresses: parsed.ipAddresses,
          keyType: parsed.keyType,
          usages: parsed.extendedKeyUsage,
        },
      },
    };
  } catch (e) {
    const unreadable = e instanceof Error ? e.message : String(e);
    return { observation: { at, stored: true, issuer: stored.issuer, unreadable } };
  }
}
