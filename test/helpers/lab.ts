import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxUnsupported } from '../../src/lab/sandbox.js';
import { ensureStepCaBinary } from '../../src/lab/step-ca/index.js';
import { PHOENIX_BIN, REPO_ROOT } from './cli.js';

/**
 * What lab tests share: why they skip, a lab directory, the example moved onto its own 127.0.N.x (so labs
 * of tests running side by side never share an address), the CLI against a lab, and the pids a lab
 * recorded (to prove `lab down` left nothing running).
 */

export const EXAMPLE = join(REPO_ROOT, 'examples/homelab');

/** Why lab tests cannot run here (not root, no user namespaces, no step-ca), or undefined. */
export async function labSkipReason(): Promise<string | undefined> {
  return (
    sandboxUnsupported() ??
    (await ensureStepCaBinary().then(
      () => undefined,
      (e: unknown) => `step-ca is not available: ${(e as Error).message.split('\n')[0]}`,
    ))
  );
}

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real CLI against a config and a lab directory. */
export function labPhoenix(configDir: string, labDir: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [PHOENIX_BIN, '--config-dir', configDir, '--lab-dir', labDir, ...args],
      {
        env: { ...process.env, NO_COLOR: '1', PHOENIX_CONFIG_DIR: '', PHOENIX_STATE_DIR: '' },
        timeout: 180_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

export const assertRan = (r: Run, what: string): void =>
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);

export async function newLabDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-lab-'));
  await chmod(dir, 0o711); // a guest's shifted root must be able to traverse to its rootfs
  return dir;
}

/** A copy of the example with every 10.0.0.x moved to 10.0.<octet>.x: its lab lives on 127.0.<octet>.x. */
export async function exampleOn(octet: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-lab-config-'));
  await cp(EXAMPLE, dir, { recursive: true });
  const rewrite = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await rewrite(p);
      else await writeFile(p, (await readFile(p, 'utf8')).replaceAll('10.0.0.', `10.0.${octet}.`));
    }
  };
  await rewrite(dir);
  return dir;
}

export interface Pid {
  readonly pid: number;
  readonly start: number;
  readonly name?: string;
}

/** Every pid the lab recorded: dnsmasq's, and each guest's holder and services. */
export async function recordedPids(labDir: string): Promise<Pid[]> {
  const out: Pid[] = [];
  const state = JSON.parse(await readFile(join(labDir, 'lab.json'), 'utf8')) as { dnsmasq?: Pid };
  if (state.dnsmasq) out.push({ ...state.dnsmasq, name: 'dnsmasq' });
  for (const id of await readdir(join(labDir, 'guests')).catch(() => [] as string[])) {
    const run = await readFile(join(labDir, 'guests', id, 'run.json'), 'utf8').catch(() => undefined);
    if (!run) continue;
    const r = JSON.parse(run) as { holder: Pid; services: Pid[] };
    out.push(
      { ...r.holder, name: `${id} holder` },
      ...r.services.map((s) => ({ ...s, name: `${id} ${s.name ?? ''}` })),
    );
  }
  return out;
}

/** Whether the recorded process still runs (same pid and start time, not a zombie). */
export async function alive(ref: Pid): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${ref.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && Number(fields[19]) === ref.start;
  } catch {
    return false;
  }
}
