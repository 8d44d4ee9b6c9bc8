import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { DriverError, NotFoundError } from '../errors.js';
import type { ExecResult, FileAttrs, FileRead } from '../hypervisor/types.js';
import type { GuestShell } from './guest-shell.js';

/**
 * The driver's file contract over any GuestShell: writes are atomic (a staging name beside the target,
 * written with its final owner and mode, then renamed over it with `mv`, which is rename(2) within one
 * directory), removal is `rm -f`, reads return the bytes and the attributes as seen inside the target
 * (owner and group by name, as `stat` resolves them in the guest; the id when it has no entry). Every argv is fixed; paths are validated first, so no path can be read as
 * an option or climb out with "..".
 */

/** An absolute path without "." or ".." segments, NUL or line breaks, normalised; never "/". */
export function checkPath(path: string): string {
  const segments = path.split('/').slice(1);
  if (!path.startsWith('/') || /[\0\n\r]/.test(path) || segments.some((s) => s === '.' || s === '..')) {
    throw new DriverError(
      `invalid path ${JSON.stringify(path)}: must be absolute without "." or ".." segments`,
    );
  }
  const normal = posix.normalize(path).replace(/\/+$/, '');
  if (normal === '') throw new DriverError('invalid path "/": not a file');
  return normal;
}

const missing = (r: ExecResult) => r.exitCode !== 0 && /No such file or directory/.test(r.stderr);

async function run(shell: GuestShell, argv: string[]): Promise<ExecResult> {
  const r = await shell.exec(argv);
  if (r.exitCode !== 0)
    throw new DriverError(`${shell.label}: ${argv[0]} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return r;
}

export async function readFileVia(shell: GuestShell, path: string): Promise<FileRead | undefined> {
  const p = checkPath(path);
  // Names as the guest resolves them (what the configuration declares); the id when it has no entry.
  const st = await shell.exec(['stat', '-c', '%u %g %a %U %G', p]);
  if (missing(st)) return undefined;
  if (st.exitCode !== 0)
    throw new DriverError(`${shell.label}: stat ${p} failed (exit ${st.exitCode}): ${st.stderr.trim()}`);
  const m = /^(\d+) (\d+) ([0-7]+) (\S+) (\S+)\s*$/.exec(st.stdout);
  if (!m) throw new DriverError(`${shell.label}: unexpected stat output for ${p}`);
  const content = await shell.get(p);
  const named = (name: string, id: string) => (name === 'UNKNOWN' ? Number(id) : name);
  return {
    content,
    attrs: { owner: named(m[4]!, m[1]!), group: named(m[5]!, m[2]!), mode: parseInt(m[3]!, 8) },
  };
}

export async function writeFileVia(
  shell: GuestShell,
  path: string,
  content: Uint8Array,
  attrs: FileAttrs,
): Promise<void> {
  const p = checkPath(path);
  if (!Number.isInteger(attrs.mode) || attrs.mode < 0 || attrs.mode > 0o7777)
    throw new DriverError(`invalid file mode ${attrs.mode}`);
  for (const who of [attrs.owner, attrs.group]) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(String(who)))
      throw new DriverError(`invalid owner or group ${JSON.stringify(who)}`);
  }
  const dir = posix.dirname(p);
  const staging = posix.join(dir, `.${posix.basename(p)}.phoenix-${randomBytes(4).toString('hex')}`);
  await run(shell, ['mkdir', '-p', dir]);
  try {
    await shell.put(staging, content, attrs);
    await run(shell, ['mv', '--', staging, p]);
  } catch (err) {
    // Nothing half-written is left behind; the target is untouched until the rename.
    await shell.exec(['rm', '-f', '--', staging]).catch(() => undefined);
    throw err;
  }
}

export async function removeFileVia(shell: GuestShell, path: string): Promise<void> {
  await run(shell, ['rm', '-f', '--', checkPath(path)]);
}

export async function renameFileVia(shell: GuestShell, from: string, to: string): Promise<void> {
  const src = checkPath(from);
  const dst = checkPath(to);
  if (posix.dirname(src) !== posix.dirname(dst))
    throw new DriverError(`rename only within one directory (${src} → ${dst})`);
  const r = await shell.exec(['mv', '--', src, dst]);
  if (missing(r)) throw new NotFoundError(`${shell.label}:${src}`);
  if (r.exitCode !== 0)
    throw new DriverError(`${shell.label}: mv ${src} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
}
