import { posix } from 'node:path';
import { keyMatchesCert } from '../certs/x509.js';
import type { StoredCertificate } from '../certs/store.js';
import { DriverError, NotFoundError } from '../drivers/errors.js';
import type { FileSpec, InstallTarget } from '../model/inventory.js';
import { sha256 } from './file.js';
import type { Context } from './types.js';

/**
 * Installs one target of a certificate (its key, certificate and chain files in one guest) so that the
 * service never sees a half: every file that changes is written to a staging file in its own directory with
 * its final owner and mode, the staged key and certificate are checked to belong together, and only then
 * is each renamed over its target. A failure before the renames leaves the old files untouched.
 */

export type Role = 'key' | 'cert' | 'chain';
export const ROLES: readonly Role[] = ['key', 'cert', 'chain'];

/** Fixed, so a run cut short leaves one stale staging file that the next run simply overwrites. */
export const stagingPath = (path: string): string =>
  posix.join(posix.dirname(path), `.${posix.basename(path)}.phoenix-new`);

export function contentFor(stored: StoredCertificate, role: Role): Uint8Array {
  const text = role === 'key' ? stored.keyPem : role === 'cert' ? stored.certPem : stored.chainPem;
  return new TextEncoder().encode(text);
}

/** The install target of `certificate` that holds the file at `path` in `guest`. */
export function targetHolding(ctx: Context, certificate: string, file: FileSpec): InstallTarget {
  const cert = ctx.inventory.certificates.find((c) => c.name === certificate);
  const target = cert?.install.find((t) =>
    ROLES.some(
      (r) => t[r]?.location.guest === file.location.guest && t[r]?.location.path === file.location.path,
    ),
  );
  if (!target) throw new Error(`no install target of ${certificate} holds ${file.location.path}`);
  return target;
}

interface Staged {
  readonly role: Role;
  readonly file: FileSpec;
  readonly staging: string;
}

export async function installTarget(
  ctx: Context,
  certificate: string,
  target: InstallTarget,
  stored: StoredCertificate,
): Promise<void> {
  const hv = ctx.drivers.hypervisor;
  const where = target.guest;
  const staged: Staged[] = [];
  const inPlace = new Map<Role, string>();
  try {
    for (const role of ROLES) {
      const file = target[role];
      if (!file) continue;
      const content = contentFor(stored, role);
      inPlace.set(role, new TextDecoder().decode(content));
      if (await upToDate(ctx, file, content)) continue;
      const staging = stagingPath(file.location.path);
      await hv.writeFile(where, staging, content, { owner: file.owner, group: file.group, mode: file.mode });
      staged.push({ role, file, staging });
    }
    if (staged.length === 0) return;
    // Read back what was staged: the pair check is on the bytes that will be in place, not on intentions.
    for (const s of staged) {
      const back = await hv.readFile(where, s.staging);
      if (!back) throw new DriverError(`${where}:${s.staging} vanished after it was written`);
      inPlace.set(s.role, new TextDecoder().decode(back.content));
    }
    if (!(await keyMatchesCert(inPlace.get('key')!, inPlace.get('cert')!))) {
      throw new DriverError(
        `the staged key and certificate of ${certificate} in ${where} do not belong together; nothing was replaced`,
      );
    }
    while (staged.length > 0) {
      const s = staged[0]!;
      await hv.renameFile(where, s.staging, s.file.location.path);
      staged.shift();
    }
  } finally {
    for (const s of staged) await hv.removeFile(where, s.staging).catch(() => undefined);
  }
}

async function upToDate(ctx: Context, file: FileSpec, content: Uint8Array): Promise<boolean> {
  let have;
  try {
    have = await ctx.drivers.hypervisor.readFile(file.location.guest, file.location.path);
  } catch (e) {
    if (e instanceof NotFoundError) return false;
    throw e;
  }
  return (
    have !== undefined &&
    sha256(have.content) === sha256(content) &&
    String(have.attrs.owner) === String(file.owner) &&
    String(have.attrs.group) === String(file.group) &&
    have.attrs.mode === file.mode
  );
}
