import type { StoredCertificate } from '../certs/store.js';
import { observeStored } from '../certs/observe.js';
import { issueAndStore } from '../certs/issue.js';
import { chainsTo } from '../certs/x509.js';
import { invalidReason, renewalReason, type CertObservation } from '../certs/policy.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { Certificate } from '../model/inventory.js';
import type { Context, Handler } from './types.js';
import { noop } from './types.js';
import { gatewayWebroot } from './acme-webroot.js';

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
  const { observation, parsed } = await observeStored(stored, at);
  if (!stored || !parsed) return { ...observation, ...forced };
  return {
    ...observation,
    ...forced,
    ...(await renewalInfo(ctx, name, stored.issuer, stored.certPem)),
    ...(await chainCheck(ctx, stored)),
  };
}

/**
 * ARI, when the certificate's issuer offers it. The CA's advice is one input among others: when it cannot
 * be had, the decision rests on the certificate itself, as it would with a CA without ARI.
 */
async function renewalInfo(
  ctx: Context,
  name: string,
  issuer: string,
  certPem: string,
): Promise<{ ariRenewAfter?: string }> {
  const want = ctx.inventory.certificates.find((c) => c.name === name);
  if (!want || want.issuer !== issuer || !ctx.inventory.issuers.has(issuer)) return {};
  try {
    const info = await ctx.drivers.issuer(issuer).renewalInfo?.(certPem);
    return info ? { ariRenewAfter: info.renewAfter } : {};
  } catch {
    return {};
  }
}

/** Whether the stored certificate chains to its issuer's current root (a CA that was re-created does not). */
async function chainCheck(ctx: Context, stored: StoredCertificate): Promise<{ chainsToIssuer?: boolean }> {
  if (!ctx.inventory.issuers.has(stored.issuer)) return {};
  try {
    const roots = await ctx.drivers.issuer(stored.issuer).roots();
    return { chainsToIssuer: chainsTo(stored.certPem, stored.chainPem, roots) };
  } catch {
    return {};
  }
}

async function issue(ctx: Context, cert: Certificate): Promise<void> {
  const previous = await ctx.certs.load(cert.name);
  const acme = ctx.inventory.issuers.get(cert.issuer)?.type === 'acme';
  await issueAndStore(ctx.drivers.issuer(cert.issuer), ctx.certs, cert, {
    signal: ctx.signal,
    ...(acme ? { http01: gatewayWebroot(ctx) } : {}),
    ...(previous?.issuer === cert.issuer ? { replaces: previous.certPem } : {}),
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
    // A CA may hand out lifetimes shorter than the renewal window: due again is still a valid result.
    const reason = invalidReason(cert, seen);
    if (reason) throw new DriverError(`certificate ${cert.name} is still not valid after issuing: ${reason}`);
  },
  // The observation time changes every run; only the certificate itself belongs in a plan's fingerprint.
  fingerprint: (seen) => JSON.stringify({ ...seen, at: undefined }),
};
