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

/** The file a new install replaced, kept until the service proved it serves the new one (rollback). */
export const previousPath = (path: string): string =>
  posix.join(posix.dirname(path), `.${posix.basename(path)}.phoenix-previous`);

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
    for (const s of staged) await keepPrevious(ctx, where, s.file.location.path);
    while (staged.length > 0) {
      const s = staged[0]!;
      await hv.renameFile(where, s.staging, s.file.location.path);
      staged.shift();
    }
  } finally {
    for (const s of staged) await hv.removeFile(where, s.staging).catch(() => undefined);
  }
}

async function keepPrevious(ctx: Context, where: FileSpec['location']['guest'], path: string): Promise<void> {
  const hv = ctx.drivers.hypervisor;
  const current = await readIfPresent(ctx, where, path);
  // Without a current file there is nothing to go back to; a stale copy from an older install must not linger.
  if (current) await hv.writeFile(where, previousPath(path), current.content, current.attrs);
  else await hv.removeFile(where, previousPath(path));
}

async function readIfPresent(ctx: Context, where: FileSpec['location']['guest'], path: string) {
  try {
    return await ctx.drivers.hypervisor.readFile(where, path);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/**
 * Puts back what the last install replaced, for the given installed files: used when the service does not
 * take the new certificate, so it keeps serving the old valid one. Returns the paths restored.
 */
export async function restorePrevious(ctx: Context, files: readonly FileSpec[]): Promise<string[]> {
  const restored: string[] = [];
  for (const f of files) {
    const { guest, path } = f.location;
    if (!(await readIfPresent(ctx, guest, previousPath(path)))) continue;
    await ctx.drivers.hypervisor.renameFile(guest, previousPath(path), path);
    restored.push(`${guest}:${path}`);
  }
  return restored;
}

/** Once the new certificate is proven served, the old key has no reason to stay on disk. */
export async function discardPrevious(ctx: Context, files: readonly FileSpec[]): Promise<void> {
  for (const f of files)
    await ctx.drivers.hypervisor.removeFile(f.location.guest, previousPath(f.location.path));
}

async function upToDate(ctx: Context, file: FileSpec, content: Uint8Array): Promise<boolean> {
  const have = await readIfPresent(ctx, file.location.guest, file.location.path);
  return (
    have !== undefined &&
    sha256(have.content) === sha256(content) &&
    String(have.attrs.owner) === String(file.owner) &&
    String(have.attrs.group) === String(file.group) &&
    have.attrs.mode === file.mode
  );
}
