import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, fchmodSync } from 'node:fs';
import { FileCertificateStore } from '../../certs/file-store.js';
import { renewalDue, renewalReason, type CertObservation } from '../../certs/policy.js';
import type { CertificateStore } from '../../certs/store.js';
import { observeStored } from '../../certs/observe.js';
import type { ParsedCertificate } from '../../certs/x509.js';
import { statePaths } from '../../engine/state-dir.js';
import type { Certificate, FileSpec, Inventory } from '../../model/inventory.js';
import { UsageError } from './engine-options.js';

/** What the `certs` commands share: reading Phoenix's store, naming certificates, writing files atomically. */

export const DAY_MS = 86_400_000;

export function certificateStore(stateDir: string): CertificateStore {
  return new FileCertificateStore(statePaths(stateDir).certs);
}

/** One certificate of the configuration next to Phoenix's stored copy of it, as of `at`. */
export interface CertInspection {
  readonly cert: Certificate;
  readonly at: Date;
  /** What the renewal policy sees (the same facts `sync` decides on). */
  readonly observation: CertObservation;
  /** Set when a certificate is stored and parses. */
  readonly parsed?: ParsedCertificate;
  /** The issuer that signed the stored copy (a name of the manifest). */
  readonly storedIssuer?: string;
  /** Why a stored bundle could not be read at all (damaged bundle.json). */
  readonly loadError?: string;
}

/** Reads the stored copy and judges it like the cert resource does; never changes anything. */
export async function inspectCertificate(
  store: CertificateStore,
  cert: Certificate,
  at: Date,
): Promise<CertInspection> {
  const iso = at.toISOString();
  let stored;
  try {
    stored = await store.load(cert.name);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return { cert, at, observation: { at: iso, stored: true, unreadable: message }, loadError: message };
  }
  const { observation, parsed } = await observeStored(stored, iso);
  return {
    cert,
    at,
    observation,
    ...(parsed ? { parsed } : {}),
    ...(stored ? { storedIssuer: stored.issuer } : {}),
  };
}

/** Facts about an inspected certificate that list, status and the metrics share. */
export function certificateFacts(i: CertInspection): {
  notAfter?: Date;
  renewalDue?: Date;
  daysLeft?: number;
  /** The renewal policy's reason when the certificate is due now (sync would renew it), else undefined. */
  dueReason?: string;
} {
  const reason = renewalReason(i.cert, i.observation);
  if (!i.parsed || !i.observation.facts) return { dueReason: reason };
  const notAfter = i.parsed.notAfter;
  return {
    notAfter,
    renewalDue: renewalDue(i.cert, i.observation.facts),
    daysLeft: Math.floor((notAfter.getTime() - i.at.getTime()) / DAY_MS),
    dueReason: reason,
  };
}

/** "101:/etc/nginx/ssl/a.key" for each installed file of a certificate, by role. */
export function installLocations(cert: Certificate): Array<{ role: 'key' | 'cert' | 'chain'; at: string }> {
  const where = (f: FileSpec) => `${f.location.guest}:${f.location.path}`;
  return cert.install.flatMap((t) => [
    { role: 'key' as const, at: where(t.key) },
    { role: 'cert' as const, at: where(t.cert) },
    ...(t.chain ? [{ role: 'chain' as const, at: where(t.chain) }] : []),
  ]);
}

/**
 * Certificate names from the command line (a name, or its resource id `cert/<name>`), checked against the
 * configuration; none means all. Unknown names are a usage error that lists the known ones.
 */
export function resolveCertNames(inv: Inventory, given: readonly string[]): string[] {
  const known = inv.certificates.map((c) => c.name);
  if (given.length === 0 || (given.length === 1 && given[0] === 'all')) return known;
  const names = [...new Set(given.map((g) => (g.startsWith('cert/') ? g.slice('cert/'.length) : g)))];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) {
    throw new UsageError(
      `unknown certificate${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}; ` +
        (known.length ? `the configuration has: ${known.join(', ')}` : 'the configuration has none'),
    );
  }
  return names;
}

/**
 * Writes a file so that readers see the old content or the new, never a part: a temp file beside the
 * target, created exclusively with the final mode, fsync, rename.
 */
export function writeFileAtomically(target: string, content: string, mode: number): void {
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(temp, 'wx', mode);
  try {
    try {
      // The umask may have narrowed the mode; set it exactly.
      fchmodSync(fd, mode);
      const bytes = Buffer.from(content, 'utf8');
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

export function iso(d: Date | undefined): string | undefined {
  return d?.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
