import { createHash } from 'node:crypto';
import { DriverError, NotFoundError } from '../drivers/errors.js';
import type { FileAttrs } from '../drivers/hypervisor/types.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestRef } from '../model/inventory.js';
import type { Context, Decision, Handler } from './types.js';
import { contentFor, installTarget, targetHolding } from './install.js';
import { noop } from './types.js';

/**
 * A file Phoenix is the only writer of. Content comes from a source (a certificate in the store, a
 * generated config); owner, group and mode are declared as seen inside the guest.
 */
export interface FileObservation {
  /** sha256 of what the file should contain; undefined while its source does not exist yet. */
  readonly wantHash?: string;
  readonly want: FileAttrs;
  readonly present: boolean;
  readonly haveHash?: string;
  readonly have?: FileAttrs;
}

export interface ManagedFile {
  readonly target: GuestRef;
  readonly path: string;
  readonly attrs: FileAttrs;
  /** The bytes to write, or undefined when the source does not exist yet. */
  content(ctx: Context): Promise<Uint8Array | undefined>;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export async function observeFile(ctx: Context, f: ManagedFile): Promise<FileObservation> {
  const content = await f.content(ctx);
  let read;
  try {
    read = await ctx.drivers.hypervisor.readFile(f.target, f.path);
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
  return {
    wantHash: content ? sha256(content) : undefined,
    want: f.attrs,
    present: read !== undefined,
    haveHash: read ? sha256(read.content) : undefined,
    have: read?.attrs,
  };
}

/**
 * `sourceChanged` lists the requirements that produce this file's content and change in this run: then the
 * file changes too, even though the stored source still holds the old content while planning.
 */
export function decideFile(label: string, seen: FileObservation, sourceChanged: readonly string[]): Decision {
  if (!seen.present) {
    return {
      action: 'create',
      reason: `${label} does not exist${sourceChanged.length ? ` (${sourceChanged.join(', ')} changes in this run)` : ''}`,
    };
  }
  const diffs: string[] = [];
  if (sourceChanged.length > 0) diffs.push(`${sourceChanged.join(', ')} changes in this run`);
  else if (seen.wantHash !== undefined && seen.wantHash !== seen.haveHash) diffs.push('content differs');
  const a = seen.want;
  const b = seen.have!;
  if (String(a.owner) !== String(b.owner) || String(a.group) !== String(b.group))
    diffs.push(`owner ${b.owner}:${b.group} → ${a.owner}:${a.group}`);
  if (a.mode !== b.mode) diffs.push(`mode ${octal(b.mode)} → ${octal(a.mode)}`);
  if (!diffs.length) return noop(`${label} is up to date`);
  return { action: 'update', reason: diffs.join('; ') };
}

export async function writeManagedFile(ctx: Context, f: ManagedFile): Promise<void> {
  const content = await f.content(ctx);
  if (!content) throw new DriverError(`nothing to write to ${f.target}:${f.path}: its source does not exist`);
  await ctx.drivers.hypervisor.writeFile(f.target, f.path, content, f.attrs);
}

export async function verifyManagedFile(ctx: Context, f: ManagedFile): Promise<void> {
  const seen = await observeFile(ctx, f);
  const left = decideFile(`${f.target}:${f.path}`, seen, []);
  if (left.action !== 'noop')
    throw new DriverError(`${f.target}:${f.path} does not hold what was written: ${left.reason}`);
}

export function octal(mode: number): string {
  return '0' + mode.toString(8).padStart(3, '0');
}

/** The certificate material a file node installs. */
function certificateFile(node: ResourceNode): ManagedFile {
  const { certificate, role, file } = fileSpecOf(node);
  return {
    target: file.location.guest,
    path: file.location.path,
    attrs: { owner: file.owner, group: file.group, mode: file.mode },
    async content(ctx) {
      const stored = await ctx.certs.load(certificate);
      return stored ? contentFor(stored, role) : undefined;
    },
  };
}

function fileSpecOf(node: ResourceNode) {
  if (node.spec.kind !== 'file') throw new Error(`${node.id} is not a file`);
  return node.spec;
}

export const fileHandler: Handler<FileObservation> = {
  kind: 'file',
  read: (ctx, node) => observeFile(ctx, certificateFile(node)),
  decide: (node, seen, upstream) =>
    decideFile(
      node.id.slice('file/'.length),
      seen,
      upstream.changed.filter((id) => id.startsWith('cert/')),
    ),
  // The whole install target goes in together (install.ts); a sibling that runs later finds it done.
  async apply(ctx, node) {
    const { certificate, file } = fileSpecOf(node);
    const stored = await ctx.certs.load(certificate);
    if (!stored)
      throw new DriverError(
        `nothing to write to ${file.location.guest}:${file.location.path}: ${certificate} is not issued`,
      );
    await installTarget(ctx, certificate, targetHolding(ctx, certificate, file), stored);
  },
  verify: (ctx, node) => verifyManagedFile(ctx, certificateFile(node)),
};
