import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecResult } from '../../drivers/hypervisor/types.js';
import { MANAGED_PATHS } from '../../graph/paths.js';
import { assertLoopback } from '../address.js';
import type { Sandbox } from '../sandbox.js';
import { boundDirOf } from '../sandbox-paths.js';
import { signalProc } from '../sandbox-proc.js';
import { serialised } from '../sandbox-store.js';

/**
 * Traefik in the lab's mesh guest. Traefik is not packaged for Debian, so the lab runs a stand-in
 * (traefik-standin.ts) that follows Traefik's documented file-provider behaviour for what Phoenix generates.
 * It runs like the real one would: inside the mesh guest's sandbox as the guest's root, reading the guest's
 * /etc/traefik/dynamic/phoenix.yml and watching it, with its `web` entrypoint on the guest's lab address
 * port 80 (bound by host root and inherited, as for nginx). The host's `node` runs it (the guest's /usr is
 * the host's); its program files are copied into the guest under /opt/phoenix-lab/traefik.
 *
 *   systemctl start traefik     starts it (nothing when it runs)
 *   systemctl restart traefik   stops it by pid and starts it
 *   systemctl reload traefik    SIGHUP: re-read the file (Traefik watches it anyway); starts it when stopped
 *   systemctl stop traefik      stops it by pid
 *   systemctl is-active traefik from the process, never from a record
 * Stopping the guest or `lab down` stops it with the guest's other services (it is one of them, by pid).
 */

export const TRAEFIK_HOME = '/opt/phoenix-lab/traefik';
const PROGRAM = `${TRAEFIK_HOME}/traefik-standin.js`;
const STAMP = `${TRAEFIK_HOME}/.installed`;
const LOG = '/var/log/traefik/phoenix-lab-standin.log';
/** The entrypoint `web` that the gateway proxies to (nginx.ts: http://<mesh address>:80). */
export const TRAEFIK_WEB_PORT = 80;
/**
 * A guest's /usr is the host's, read-only: the lab keeps files Phoenix installs under /usr/local in the
 * guest's /var/lib/phoenix-lab/usr-local (drivers/lab/index.ts), so the trust anchor that rootCAs names is
 * read from there.
 */
const RELOCATE = '/usr/local/=/var/lib/phoenix-lab/usr-local/';

const ROOT_FILE = { owner: 'root', group: 'root', mode: 0o644 } as const;

/** The program files to copy into the guest: the stand-in, a package.json making it ESM, and `yaml`. */
async function programFiles(): Promise<Array<{ path: string; content: Buffer }>> {
  const standIn = fileURLToPath(new URL('./traefik-standin.js', import.meta.url));
  const yamlDir = dirname(createRequire(import.meta.url).resolve('yaml/package.json'));
  const files = [
    { path: PROGRAM, content: await readFile(standIn) },
    { path: `${TRAEFIK_HOME}/package.json`, content: Buffer.from('{ "type": "module", "private": true }\n') },
    {
      path: `${TRAEFIK_HOME}/node_modules/yaml/package.json`,
      content: await readFile(join(yamlDir, 'package.json')),
    },
  ];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.js'))
        files.push({
          path: `${TRAEFIK_HOME}/node_modules/yaml/${relative(yamlDir, p)}`,
          content: await readFile(p),
        });
    }
  };
  await walk(join(yamlDir, 'dist'));
  return files;
}

/** Copies the program into the guest unless the same program is there already (a stamp of its hash). */
async function install(sandbox: Sandbox): Promise<void> {
  const files = await programFiles();
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.path).update('\0').update(f.content);
  const stamp = `${hash.digest('hex')}\n`;
  const current = await sandbox.readFile(STAMP);
  if (current && Buffer.from(current.content).toString('utf8') === stamp) return;
  for (const f of files) await sandbox.writeFile(f.path, f.content, ROOT_FILE);
  await sandbox.writeFile(STAMP, Buffer.from(stamp), ROOT_FILE);
}

export async function runningTraefik(sandbox: Sandbox) {
  return (await sandbox.services()).find((s) => s.name === 'traefik' && s.running);
}

const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string): ExecResult => ({ exitCode: 1, stdout: '', stderr });

async function start(sandbox: Sandbox, address: string | undefined): Promise<ExecResult> {
  if (address === undefined)
    return fail(`Job for traefik.service failed.\n${sandbox.label} has no lab address to listen on\n`);
  assertLoopback(address, 'traefik entrypoint address');
  if (boundDirOf(process.execPath) === undefined)
    return fail(
      `Job for traefik.service failed.\nthe lab runs the stand-in with the host's node, which must be under /usr (the guest sees the host's /usr): ${process.execPath}\n`,
    );
  try {
    await install(sandbox);
    await sandbox.spawnService(
      [process.execPath, PROGRAM, '--file', MANAGED_PATHS.traefikDynamic, '--relocate', RELOCATE],
      { name: 'traefik', listen: [{ address, port: TRAEFIK_WEB_PORT }], logFile: LOG, settleMs: 400 },
    );
    return ok();
  } catch (e) {
    return fail(`Job for traefik.service failed.\n${(e as Error).message}\n`);
  }
}

/** `systemctl <verb> traefik` in a guest; one job at a time per guest, as systemd queues them. */
export function traefikUnit(
  sandbox: Sandbox,
  address: string | undefined,
  verb: string,
): Promise<ExecResult> {
  return serialised(`${sandbox.dir}#traefik`, async () => {
    const running = await runningTraefik(sandbox);
    switch (verb) {
      case 'is-active':
        return running ? ok('active\n') : { exitCode: 3, stdout: 'inactive\n', stderr: '' };
      case 'stop':
        if (running) await sandbox.stopService(running.pid);
        return ok();
      case 'start':
        return running ? ok() : start(sandbox, address);
      case 'restart':
        if (running) await sandbox.stopService(running.pid);
        return start(sandbox, address);
      case 'reload':
      case 'reload-or-restart':
      case 'try-reload-or-restart':
        if (!running) return start(sandbox, address);
        await signalProc(running, 'SIGHUP');
        return ok();
      default:
        return ok();
    }
  });
}
