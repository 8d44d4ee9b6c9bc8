import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../../drivers/errors.js';
import { MANAGED_PATHS } from '../../graph/paths.js';
import { assertLoopback } from '../address.js';
import { isAlive, procRef, spawnDetached, terminate } from '../sandbox-proc.js';
import { labPaths, readLabState, updateLabState } from '../state.js';

/**
 * The real dnsmasq of the lab host: a host process (root, pid tracked in lab.json) answering on the host's
 * lab address, port 53, with no upstream at all (no-resolv, and the records file is refused if it names a
 * server): nothing it is asked ever leaves the machine.
 */

export interface DnsSpec {
  readonly address: string;
  readonly domain: string;
}

export const recordsFile = (labDir: string) => join(labPaths(labDir).hostRootfs, MANAGED_PATHS.dnsmasq);

export function dnsmasqConf(labDir: string, spec: DnsSpec): string {
  assertLoopback(spec.address, 'dnsmasq listen address');
  const dir = labPaths(labDir).dnsmasq;
  return [
    '# Written by the Phoenix lab: the host DNS. Never forwards anything (no upstream servers).',
    'port=53',
    `listen-address=${spec.address}`,
    'bind-interfaces',
    'no-resolv',
    'no-hosts',
    'no-poll',
    `local=/${spec.domain}/`,
    `pid-file=${join(dir, 'dnsmasq.pid')}`,
    `log-facility=${join(dir, 'dnsmasq.log')}`,
    `conf-file=${recordsFile(labDir)}`,
    '',
  ].join('\n');
}

/** The records file must never make dnsmasq forward or listen elsewhere. */
async function checkRecords(labDir: string): Promise<void> {
  const text = await readFile(recordsFile(labDir), 'utf8');
  const bad = text
    .split('\n')
    .find((l) => /^\s*(server|rev-server|listen-address|interface|except-interface|port)\s*=/.test(l));
  if (bad !== undefined) {
    throw new DriverError(
      `the lab refuses ${recordsFile(labDir)}: "${bad.trim()}" (the lab DNS never forwards)`,
    );
  }
}

export async function dnsmasqRunning(labDir: string): Promise<number | undefined> {
  const s = (await readLabState(labDir)).dnsmasq;
  return s && (await isAlive(s)) ? s.pid : undefined;
}

export async function startDnsmasq(labDir: string, spec: DnsSpec): Promise<number> {
  const running = await dnsmasqRunning(labDir);
  if (running !== undefined) return running;
  const dir = labPaths(labDir).dnsmasq;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const records = recordsFile(labDir);
  await mkdir(dirname(records), { recursive: true });
  await writeFile(records, '# no records yet: phoenix sync writes this file\n', { flag: 'wx' }).catch(
    (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    },
  );
  await checkRecords(labDir);
  const conf = join(dir, 'dnsmasq.conf');
  await writeFile(conf, dnsmasqConf(labDir, spec), { mode: 0o644 });
  const log = await open(join(dir, 'dnsmasq.out'), 'a', 0o600);
  let child;
  try {
    child = await spawnDetached(['/usr/sbin/dnsmasq', '-k', '-C', conf], { PATH: '/usr/sbin:/usr/bin' }, [
      'ignore',
      log.fd,
      log.fd,
    ]);
  } finally {
    await log.close();
  }
  const early = await Promise.race([child.exited, sleep(250).then(() => undefined)]);
  if (early) {
    const said = await readFile(join(dir, 'dnsmasq.out'), 'utf8').catch(() => '');
    throw new DriverError(
      `dnsmasq exited right away (${early.signal ?? `exit ${early.code}`}): ${said.trim().split('\n').slice(-3).join(' / ')}`,
    );
  }
  const ref = await procRef(child.pid);
  await updateLabState(labDir, (s) => ({ ...s, dnsmasq: { ...ref, address: spec.address, port: 53 } }));
  return ref.pid;
}

export async function stopDnsmasq(labDir: string): Promise<void> {
  const s = (await readLabState(labDir)).dnsmasq;
  if (s) await terminate([s], 5000);
  await updateLabState(labDir, ({ dnsmasq: _gone, ...rest }) => rest);
}
