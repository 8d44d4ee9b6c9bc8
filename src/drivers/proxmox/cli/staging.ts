import { DriverError } from '../../errors.js';
import { check } from './errors.js';
import type { CommandRunner } from './runner.js';

/**
 * A temporary file on the Proxmox node, for the tools that take a host path (`pct push`, `pct pull`).
 *
 * The file is created on the node by `mktemp` (mode 0600, a new name, exclusively), filled from stdin by
 * `dd of=...` (no shell redirection needed, so this works the same locally and over SSH) and removed with
 * `rm -f` afterwards, also when the step in between failed. `pct push ID /dev/stdin` cannot replace it:
 * pct opens the source inside a forked worker whose stdin was redirected to /dev/null.
 */
export async function withHostTempFile<T>(
  runner: CommandRunner,
  content: Uint8Array | undefined,
  use: (hostPath: string) => Promise<T>,
): Promise<T> {
  const made = check('mktemp on the node', await runner.run(['mktemp', '--tmpdir', 'phoenix.XXXXXXXXXX']));
  const path = made.stdout.trim();
  if (!/^\/[^\0\n]+$/.test(path))
    throw new DriverError(`mktemp printed an unexpected path: ${JSON.stringify(path)}`);
  try {
    if (content !== undefined) {
      check(
        'writing a temp file on the node',
        await runner.run(['dd', `of=${path}`, 'bs=65536', 'status=none'], { input: content }),
      );
    }
    return await use(path);
  } finally {
    check('removing a temp file on the node', await runner.run(['rm', '-f', '--', path]));
  }
}

/** Reads a whole file on the node (`cat`), as bytes. */
export async function readHostFile(runner: CommandRunner, path: string): Promise<Uint8Array> {
  return check('reading a temp file on the node', await runner.run(['cat', '--', path])).stdoutBytes;
}
