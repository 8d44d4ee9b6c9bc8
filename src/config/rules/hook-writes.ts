import { pathMatches, type HookWrite } from '../legacy/hooks.js';
import { locate } from '../../model/certificates.js';
import type { Certificate, FileSpec, Guest, GuestId } from '../../model/inventory.js';

/** A file some certificate installs: Phoenix is its one writer (content, owner and mode). */
export interface OwnedFile {
  readonly cert: Certificate;
  readonly role: 'key' | 'cert' | 'chain';
  readonly file: FileSpec;
}

/** One owned file that a hook also writes, with every write of the hook that reaches it. */
export interface Collision {
  readonly owned: OwnedFile;
  readonly writes: readonly HookWrite[];
}

export function ownedFiles(certificates: readonly Certificate[]): OwnedFile[] {
  return certificates.flatMap((cert) =>
    cert.install.flatMap((t) =>
      (['key', 'cert', 'chain'] as const).flatMap((role) => (t[role] ? [{ cert, role, file: t[role] }] : [])),
    ),
  );
}

/** Groups the hook's writes by the owned file they reach, so each (hook, file) pair is reported once. */
export function collisions(
  writes: readonly HookWrite[],
  owned: readonly OwnedFile[],
  guests: ReadonlyMap<GuestId, Guest>,
): Collision[] {
  const out: Collision[] = [];
  for (const o of owned) {
    const reaching = writes.filter((w) => reaches(w, o.file, guests));
    if (reaching.length) out.push({ owned: o, writes: reaching });
  }
  return out;
}

/**
 * Same guest and matching path, or the same file seen through a bind mount: the RCA's hook wrote
 * /etc/nginx/ssl/… inside LXC 101 while the manifest named /mnt/pve/…/101/ssl/… on the host.
 */
export function reaches(write: HookWrite, file: FileSpec, guests: ReadonlyMap<GuestId, Guest>): boolean {
  const { guest, path, hostPath } = file.location;
  if (write.guest === guest && matches(write, write.path, path)) return true;
  if (hostPath === undefined) return false;
  const hostPattern = write.guest === 'host' ? write.path : locate(write.guest, write.path, guests).hostPath;
  return hostPattern !== undefined && matches(write, hostPattern, hostPath);
}

function matches(write: HookWrite, pattern: string, path: string): boolean {
  if (pathMatches(pattern, path)) return true;
  // `chmod -R 600 /etc/nginx/ssl` reaches every file below the directory.
  if (write.what === 'content' || !isRecursive(write.command)) return false;
  const depth = pattern.split('/').length;
  const segments = path.split('/');
  return segments.length > depth && pathMatches(pattern, segments.slice(0, depth).join('/'));
}

function isRecursive(command: string): boolean {
  return command
    .split(/\s+/)
    .slice(1)
    .some((arg) => arg === '--recursive' || /^-[A-Za-z]*R/.test(arg));
}

/**
 * What the hook sets when it disagrees with the entry, as in the RCA (chmod 600 over 0640):
 * "the hook sets mode 0600". Undefined when they agree or the value cannot be read off the command.
 */
export function disagreement(write: HookWrite, file: FileSpec): string | undefined {
  const [program = '', ...args] = write.command.split(/\s+/);
  const value = args.find((a) => !a.startsWith('-'));
  if (value === undefined) return undefined;
  const name = program.slice(program.lastIndexOf('/') + 1);
  if (write.what === 'mode' && name === 'chmod' && /^0?[0-7]{3}$/.test(value)) {
    const mode = parseInt(value, 8);
    return mode === file.mode ? undefined : `mode 0${mode.toString(8).padStart(3, '0')}`;
  }
  if (write.what === 'owner' && (name === 'chown' || name === 'chgrp')) {
    const [user, group] = name === 'chgrp' ? [undefined, value] : value.split(/[:.]/);
    const differs = (set: string | undefined, declared: string | number) => set && set !== String(declared);
    return differs(user, file.owner) || differs(group, file.group) ? `owner ${value}` : undefined;
  }
  return undefined;
}
