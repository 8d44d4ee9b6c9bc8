import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PHOENIX_BIN = fileURLToPath(new URL('../../../bin/phoenix.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process, as a user would. */
export function phoenix(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [PHOENIX_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', PHOENIX_CONFIG_DIR: '', ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The arguments of a `sync all` on the memory driver, slowed down so a test can act while it runs. */
export function memorySyncArgs(configDir: string, stateDir: string, latencyMs: number): string[] {
  const where = ['--config-dir', configDir, '--state-dir', stateDir, '--driver', 'memory'];
  return [...where, 'sync', 'all', '--memory-latency', String(latencyMs)];
}

/** Runs the real CLI in the background, output piped, for tests that signal or race it. */
export function spawnPhoenix(args: string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [PHOENIX_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', PHOENIX_CONFIG_DIR: '' },
  });
}
