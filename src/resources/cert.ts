import { createCsr, generateKey, keyMatchesCert, parseCertificate } from '../certs/x509.js';
import { renewalReason, type CertObservation } from '../certs/policy.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { Certificate } from '../model/inventory.js';
import type { Context, Handler } from './types.js';
import { noop } from './types.js';

function certOf(node: ResourceNode): Certificate {
  if (node.spec.kind !== 'cert') throw new Error(`${node.id} is not a certificate`);
  return node.spec.certificate;
}

/** Reads Phoenix's stored copy; everything time-dependent is decided against `at`, not the clock. */
export async function observeCertificate(
  ctx: Context,
  name: string,
): Promise<CertObservation & { forced?: boolean }> {
  const at = new Date().toISOString();
  const forced = ctx.forceRenew?.has(name) ? { forced: true } : {};
  const stored = await ctx.certs.load(name);
  if (!stored) return { at, stored: false, ...forced };
  try {
    const parsed = await parseCertificate(stored.certPem);
    return {
      at,
      ...forced,
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
    };
  } catch (e) {
    return {
      at,
      stored: true,
      issuer: stored.issuer,
      unreadable: e instanceof Error ? e.message : String(e),
    };
  }
}

async function issue(ctx: Context, cert: Certificate): Promise<void> {
  const key = await generateKey(cert.keyType);
  const csrPem = await createCsr(key.keyPem, {
    commonName: cert.commonName,
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
  });
  const issued = await ctx.drivers.issuer(cert.issuer).issue({
    csrPem,
    commonName: cert.commonName,
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
    usage: cert.usage,
    lifetimeSeconds: cert.lifetimeSeconds,
  });
  if (!(await keyMatchesCert(key.keyPem, issued.certPem))) {
    throw new DriverError(
      `issuer ${cert.issuer} returned a certificate that does not match the key it was asked to sign`,
    );
  }
  await ctx.certs.save(cert.name, {
    keyPem: key.keyPem,
    certPem: issued.certPem,
    chainPem: issued.chainPem,
    issuer: cert.issuer,
  });
}

export const certHandler: Handler<CertObservation & { forced?: boolean }> = {
  kind: 'cert',
  read: (ctx, node) => observeCertificate(ctx, certOf(node).name),
  decide(node, seen) {
    const cert = certOf(node);
    const reason = renewalReason(cert, seen, seen.forced);
    if (!reason) return noop(`valid until ${seen.facts?.notAfter ?? '?'}, not due`);
    return { action: seen.stored ? 'replace' : 'create', reason };
  },
  apply: (ctx, node) => issue(ctx, certOf(node)),
  async verify(ctx, node) {
    const cert = certOf(node);
    const seen = await observeCertificate(ctx, cert.name);
    const reason = renewalReason(cert, seen);
    if (reason) throw new DriverError(`certificate ${cert.name} is still not valid after issuing: ${reason}`);
  },
  // The observation time changes every run; only the certificate itself belongs in a plan's fingerprint.
  fingerprint: (seen) => JSON.stringify({ ...seen, at: undefined }),
};
