import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

/**
 * One lock for every mutating command (sync, apply, certs renew, the renewal timer): a JSON file naming
 * its holder. Never waits: a live holder means refuse at once. A holder whose process is gone (it crashed
 * or was killed) is taken over.
 *
 * Race-freedom rests on two atomic operations:
 * - a lock file appears by link(2) of a fully written temp file, which fails if the name exists (like
 *   O_EXCL) and, unlike open-then-write, never shows other processes an empty file;
 * - only the process that holds the claim file `<lock>.takeover-<id of the stale file>` may delete that
 *   stale file, so two processes taking over the same stale lock cannot both delete it, and a late one
 *   can never delete the fresh lock the winner created (that has another id). A claim is itself such a
 *   lock file, so a claim abandoned by a crash is taken over the same way.
 */

export interface LockHolder {
  pid: number;
  command: string;
  startedAt: string;
  hostname: string;
}

export interface HeldLock {
  readonly holder: LockHolder;
  /** Set when the lock was left by a process that no longer exists. */
  readonly tookOverFrom?: LockHolder;
  /** Removes the lock file if it is still ours; idempotent. Also runs on process 'exit'. */
  release(): void;
}

export class LockError extends Error {
  override name = 'LockError';
}

export class LockHeldError extends LockError {
  override name = 'LockHeldError';
  constructor(
    readonly holder: LockHolder,
    readonly path: string,
  ) {
    super(`another phoenix is running: ${describeHolder(holder)} (lock ${path})`);
  }
}

/** The lock file exists but cannot be read, and is too young to be called stale (10 s). */
export class LockUnreadableError extends LockError {
  override name = 'LockUnreadableError';
  constructor(
    readonly path: string,
    readonly ageMs: number,
  ) {
    super(
      `the lock ${path} exists but is empty or damaged (modified ${Math.round(ageMs / 1000)} s ago); ` +
        `if no other phoenix is running, it counts as stale after ${UNREADABLE_STALE_AFTER_MS / 1000} s`,
    );
  }
}

/** A damaged lock file younger than this may be someone else's, being written; older is stale. */
export const UNREADABLE_STALE_AFTER_MS = 10_000;
/** Each attempt either succeeds, refuses, or saw the lock file change; this bounds a pathological churn. */
const MAX_ATTEMPTS = 8;
/** Claims on claims only pile up when takeovers themselves crash; beyond this, ask a human. */
const MAX_CLAIM_DEPTH = 3;
/** A lock file is a few hundred bytes; anything much larger is not ours. */
const MAX_LOCK_FILE_BYTES = 64 * 1024;

interface LockFile extends LockHolder {
  /** Identifies this instance of the file, so a takeover removes exactly the file it judged stale. */
  token: string;
}

/** A lock file as found; `file` is missing when it is empty or damaged. */
interface Observed {
  id: string;
  ageMs: number;
  file?: LockFile;
}

export function acquireLock(path: string, holder: { command: string }): HeldLock {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const me: LockHolder = {
    pid: process.pid,
    command: holder.command,
    startedAt: isoSeconds(new Date()),
    hostname: hostname(),
  };
  const { token, tookOverFrom } = acquireFile(path, me, 0);

  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', releaseOnExit);
    releaseFile(path, token);
  };
  const releaseOnExit = (): void => {
    try {
      release();
    } catch {
      // Exiting anyway; the file then looks stale to the next run, which takes it over.
    }
  };
  process.on('exit', releaseOnExit);
  return tookOverFrom ? { holder: me, tookOverFrom, release } : { holder: me, release };
}

/** `kill(pid, 0)`: ESRCH means no such process; EPERM means it exists under another user. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false; // 0 and negatives would address process groups
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function acquireFile(
  path: string,
  holder: LockHolder,
  depth: number,
): { token: string; tookOverFrom?: LockHolder } {
  const file: LockFile = { ...holder, token: randomBytes(8).toString('hex') };
  const temp = writeTempFile(path, file);
  try {
    let tookOverFrom: LockHolder | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (linkIntoPlace(temp, path))
        return tookOverFrom ? { token: file.token, tookOverFrom } : { token: file.token };
      const found = observe(path);
      if (!found) continue; // released between our attempt and our look: try again
      refuseUnlessStale(path, found);
      if (found.file) tookOverFrom = holderOf(found.file);
      removeStale(path, found, holder, depth);
    }
  } finally {
    unlinkIfPresent(temp);
  }
  throw new LockError(`could not acquire the lock ${path}: it kept changing during ${MAX_ATTEMPTS} attempts`);
}

function refuseUnlessStale(path: string, found: Observed): void {
  if (found.file) {
    if (!isStaleHolder(found.file)) throw new LockHeldError(holderOf(found.file), path);
  } else if (found.ageMs < UNREADABLE_STALE_AFTER_MS) {
    throw new LockUnreadableError(path, found.ageMs);
  }
}

/** Only a holder on this host can be checked; one on another host (shared storage) is assumed alive. */
function isStaleHolder(h: LockHolder): boolean {
  return h.hostname === hostname() && !isProcessAlive(h.pid);
}

function removeStale(path: string, stale: Observed, holder: LockHolder, depth: number): void {
  if (depth >= MAX_CLAIM_DEPTH) {
    throw new LockError(
      `cannot take over the stale lock ${path}: earlier takeovers crashed; remove ${path}.takeover-* by hand`,
    );
  }
  const claimPath = `${path}.takeover-${stale.id}`;
  let claim: string;
  try {
    claim = acquireFile(claimPath, holder, depth + 1).token;
  } catch (error) {
    // A live process is taking over this very file: it wins, and it is the phoenix that is running.
    if (error instanceof LockHeldError) throw new LockHeldError(error.holder, path);
    throw error;
  }
  try {
    // Still the file we judged stale? Only claim holders delete, and we hold this file's claim.
    if (observe(path)?.id === stale.id) unlinkIfPresent(path);
  } finally {
    releaseFile(claimPath, claim);
  }
}

/** The lock's content, complete and on disk before it is linked into place under the lock's name. */
function writeTempFile(path: string, file: LockFile): string {
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeFileSync(fd, JSON.stringify(file) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}

/** link(2) fails if the name exists, so exactly one of several processes gets it; false if taken. */
function linkIntoPlace(temp: string, path: string): boolean {
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Reads the lock file through one descriptor, so its content and its identity belong together. */
function observe(path: string): Observed | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stat = fstatSync(fd, { bigint: true });
    const ageMs = Date.now() - Number(stat.mtimeMs);
    const file = stat.size <= MAX_LOCK_FILE_BYTES ? parseLockFile(readFileSync(fd, 'utf8')) : undefined;
    // An unreadable file has no token; its inode and mtime identify this instance of it.
    return file ? { id: file.token, file, ageMs } : { id: `i${stat.ino}-${stat.mtimeNs}`, ageMs };
  } finally {
    closeSync(fd);
  }
}

function parseLockFile(text: string): LockFile | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const valid =
    typeof v.pid === 'number' &&
    Number.isSafeInteger(v.pid) &&
    v.pid > 0 &&
    typeof v.command === 'string' &&
    typeof v.startedAt === 'string' &&
    typeof v.hostname === 'string' &&
    typeof v.token === 'string' &&
    /^[0-9a-f]{16}$/.test(v.token);
  return valid ? (v as unknown as LockFile) : undefined;
}

/** Deletes the file only if it is still the one we wrote: after a takeover it belongs to someone else. */
function releaseFile(path: string, token: string): void {
  const current = observe(path);
  if (current?.file?.token === token && current.file.pid === process.pid) unlinkIfPresent(path);
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function holderOf(f: LockFile): LockHolder {
  return { pid: f.pid, command: f.command, startedAt: f.startedAt, hostname: f.hostname };
}

function describeHolder(h: LockHolder): string {
  const where = h.hostname === hostname() ? '' : ` on ${h.hostname}`;
  return `pid ${h.pid}${where}, \`${h.command}\`, started ${h.startedAt}`;
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
