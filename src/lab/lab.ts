import { existsSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { analyse } from '../analyse.js';
import { caSpecOf, createLabDrivers, dnsSpecOf } from '../drivers/lab/index.js';
import type { LabDriverHypervisor } from '../drivers/lab/index.js';
import { labAddress } from './address.js';
import { LabContainers } from './containers.js';
import { Sandbox } from './sandbox.js';
import { mountsBelow } from './sandbox-fs.js';
import { isAlive } from './sandbox-proc.js';
import { dnsmasqRunning, startDnsmasq, stopDnsmasq } from './services/dnsmasq.js';
import { nginxUnit, runningNginx } from './services/nginx.js';
import { portainerStatus, stopPortainerProcesses } from './services/portainer.js';
import { runningTraefik, traefikUnit } from './services/traefik.js';
import { MANAGED_PATHS } from '../graph/paths.js';
import { caHealthy, ensureCaMaterial, runningStepCa } from './services/step-ca.js';
import { ensureStepCaBinary } from './step-ca/index.js';
import { labPaths, readLabState, updateLabState } from './state.js';
import type { LabState } from './state.js';
import { labView } from './view.js';
import type { Inventory } from '../model/inventory.js';

/**
 * `phoenix lab up | down | status | reset`. REAL: step-ca (in the CA guest's sandbox), nginx (in the
 * gateway guest's sandbox), dnsmasq (a host process). EMULATED: Proxmox's pct/qm/API behaviour (guests are
 * sandboxes), Docker (containers.ts), Portainer (the test tree's API emulator, services/portainer.ts), other
 * systemd units, update-ca-certificates. STAND-IN: Traefik, the Portainer agent.
 */

export type Print = (line: string) => void;

export class LabError extends Error {}

/** The lab view of the configuration, or an error naming what is wrong with it. */
export async function labInventory(configDir: string): Promise<Inventory> {
  const analysis = await analyse(configDir);
  if (!analysis.inventory || analysis.diagnostics.errorCount > 0) {
    throw new LabError(
      `the configuration in ${configDir} has ${analysis.diagnostics.errorCount} error(s); run \`phoenix validate\``,
    );
  }
  return labView(analysis.inventory);
}

function hypervisorFor(labDir: string, inv: Inventory): LabDriverHypervisor {
  return createLabDrivers({ labDir, inventory: inv }).hypervisor;
}

const hasNginxSite = (s: Sandbox) =>
  existsSync(join(s.rootfs, 'etc/nginx/conf.d')) &&
  readdirSafe(join(s.rootfs, 'etc/nginx/conf.d')).some((n) => n.endsWith('.conf'));

/** A guest Phoenix wrote a Traefik dynamic file into runs the mesh: its stand-in comes back with the lab. */
const hasMeshFile = (s: Sandbox) => existsSync(join(s.rootfs, MANAGED_PATHS.traefikDynamic.slice(1)));

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Idempotent: prepares what is missing, starts what is not running, prints what runs where. */
export async function labUp(labDir: string, configDir: string, print: Print): Promise<void> {
  const t0 = Date.now();
  const inv = await labInventory(configDir);
  const hv = hypervisorFor(labDir, inv);
  await updateLabState(labDir, (s) => ({ ...s, configDir }));

  const build = await ensureStepCaBinary();
  await updateLabState(labDir, (s) => ({ ...s, caBinary: build.binary }));
  print(
    `step-ca binary   ${build.binary}${build.ms > 1000 ? ` (built in ${(build.ms / 1000).toFixed(1)} s)` : ' (cached)'}`,
  );

  const spec = caSpecOf(inv);
  if (spec) {
    const ca = await ensureCaMaterial(labDir, spec);
    const { rootPem: _root, ...facts } = ca;
    await updateLabState(labDir, (s) => ({ ...s, ca: facts }));
    print(
      `lab CA           ${ca.url} (guest ${spec.guest}), JWK provisioner "${ca.provisioner}", ACME provisioner "${ca.acmeProvisioner}"`,
    );
    print(`                 root fingerprint ${ca.rootFingerprint}`);
  } else {
    print('lab CA           none: no guest with feature step_ca and an address');
  }

  // The lab host's "/" is made from its skeleton (accounts included) before anything is written there.
  await hv.readFile('host', '/etc/hostname');
  const dns = dnsSpecOf(inv);
  if (dns) {
    const pid = await startDnsmasq(labDir, dns);
    print(`dnsmasq          ${dns.address}:53 (host, pid ${pid}), local=/${dns.domain}/, no upstream`);
  }

  // Guests the lab stopped with `lab down` come back; running guests get their services back.
  const state = await readLabState(labDir);
  for (const sandbox of await Sandbox.list(hv.guestsDir)) {
    const wasUp = state.resume?.includes(sandbox.id) ?? false;
    if ((await sandbox.status()) !== 'running' && wasUp) await hv.startGuest(sandbox.id);
    if ((await sandbox.status()) !== 'running') continue;
    await hv.startGuestServices(sandbox.id);
    if (hasNginxSite(sandbox) && !(await runningNginx(sandbox))) {
      const r = await nginxUnit(sandbox, 'start');
      if (r.exitCode !== 0) print(`warning: nginx in ${sandbox.label} did not start: ${r.stderr.trim()}`);
    }
    if (hasMeshFile(sandbox) && !(await runningTraefik(sandbox))) {
      const r = await traefikUnit(sandbox, await hv.address(sandbox.id), 'start');
      if (r.exitCode !== 0) print(`warning: traefik in ${sandbox.label} did not start: ${r.stderr.trim()}`);
    }
  }
  await updateLabState(labDir, ({ resume: _r, ...s }) => s);
  print('');
  await printStatus(labDir, print);
  print(`lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${labDir}`);
}

/** Stops every process the lab started (by pid): the guests' services and holders, then dnsmasq. */
export async function labDown(labDir: string, print: Print): Promise<{ stillAlive: number[] }> {
  const guestsDir = labPaths(labDir).guests;
  const resume: number[] = [];
  const tracked: Array<{ pid: number; start: number }> = [];
  for (const sandbox of await Sandbox.list(guestsDir)) {
    if ((await sandbox.status()) === 'running') resume.push(sandbox.id);
    const report = await sandbox.halt(3000);
    const n = report.terminated.length + report.killed.length;
    if (n > 0)
      print(
        `stopped ${sandbox.label}: ${n} process(es)${report.killed.length ? `, ${report.killed.length} needed SIGKILL` : ''}`,
      );
  }
  // Host processes standing in for containers: they do not die with the guests' sandboxes.
  for (const p of await stopPortainerProcesses(labDir)) {
    tracked.push(p);
    print(
      `stopped Portainer ${p.kind === 'server' ? 'emulator' : 'agent stand-in'} for ${p.container} (guest ${p.guest}, pid ${p.pid})`,
    );
  }
  const dns = (await readLabState(labDir)).dnsmasq;
  if (dns) {
    tracked.push(dns);
    await stopDnsmasq(labDir);
    print(`stopped dnsmasq (pid ${dns.pid})`);
  }
  if (existsSync(labPaths(labDir).state)) {
    await updateLabState(labDir, (s) => ({ ...s, resume }));
  }
  const stillAlive: number[] = [];
  for (const ref of tracked) if (await isAlive(ref)) stillAlive.push(ref.pid);
  print(
    stillAlive.length
      ? `STILL RUNNING: ${stillAlive.join(', ')}`
      : 'lab down: nothing the lab started is running',
  );
  return { stillAlive };
}

/** Down, then remove the whole lab directory (guests, CA, secrets, journal and certificate store). */
export async function labReset(labDir: string, print: Print): Promise<void> {
  if (!existsSync(labDir)) {
    print(`nothing to reset: ${labDir} does not exist`);
    return;
  }
  if (!existsSync(labPaths(labDir).state) && !existsSync(labPaths(labDir).guests)) {
    throw new LabError(
      `${labDir} does not look like a Phoenix lab (no lab.json, no guests/): not removing it`,
    );
  }
  await labDown(labDir, print);
  const mounted = await mountsBelow(labDir);
  if (mounted.length > 0) throw new LabError(`refusing to delete across mounts: ${mounted.join(', ')}`);
  await rm(labDir, { recursive: true, force: true });
  print(`removed ${labDir}`);
}

export interface ServiceStatus {
  readonly name: string;
  /** 'host' or the guest's label ("CT 103"). */
  readonly where: string;
  /** Address:port or URL it serves, when it has one. */
  readonly listen?: string;
  readonly pid?: number;
  readonly state: string;
  readonly kind: 'real' | 'emulated' | 'stand-in';
  /** The line `lab status` prints for it. */
  readonly summary: string;
}

export interface LabStatus {
  readonly lab: string;
  readonly exists: boolean;
  readonly guests: ReadonlyArray<{
    id: number;
    label: string;
    name: string;
    status: string;
    address: string;
  }>;
  readonly services: readonly ServiceStatus[];
}

async function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

export async function labStatus(
  labDir: string,
  configDir: string | undefined,
  print: Print,
  opts: { readonly json?: boolean } = {},
): Promise<void> {
  // The configuration is not needed: everything status shows is the lab's own state.
  void configDir;
  if (!existsSync(labDir)) {
    if (opts.json) print(JSON.stringify({ lab: labDir, exists: false, guests: [], services: [] }, null, 2));
    else print(`no lab in ${labDir}: run \`phoenix lab up\``);
    return;
  }
  if (opts.json) print(JSON.stringify(await collectStatus(labDir), null, 2));
  else await printStatus(labDir, print);
}

const KIND_LABEL = { real: 'REAL', emulated: 'EMULATED', 'stand-in': 'STAND-IN' } as const;
const line = (kind: ServiceStatus['kind'], name: string, rest: string) =>
  `  ${KIND_LABEL[kind].padEnd(9)} ${name.padEnd(9)} ${rest}`;

/** What `lab status` shows, as data (also its --json). */
export async function collectStatus(labDir: string): Promise<LabStatus> {
  const state: LabState = await readLabState(labDir);
  const guestsDir = labPaths(labDir).guests;
  const sandboxes = await Sandbox.list(guestsDir);
  const guests = [];
  for (const s of sandboxes) {
    const ip = s.settings.ip;
    const address = ip && ip !== 'dhcp' ? labAddress(ip) : (ip ?? '-');
    guests.push({
      id: s.id,
      label: s.label,
      name: String(s.settings.name ?? ''),
      status: await s.status(),
      address,
    });
  }
  const labelOf = (target: string) => sandboxes.find((s) => String(s.id) === target)?.label ?? target;
  const services: ServiceStatus[] = [];
  const add = (st: Omit<ServiceStatus, 'summary'>, rest: string) =>
    services.push({ ...st, summary: line(st.kind, st.name, rest) });

  const dnsPid = await dnsmasqRunning(labDir);
  const dns = state.dnsmasq;
  add(
    {
      name: 'dnsmasq',
      kind: 'real',
      where: 'host',
      ...(dns ? { listen: `${dns.address}:53` } : {}),
      ...(dnsPid ? { pid: dnsPid } : {}),
      state: dnsPid ? 'running' : 'stopped',
    },
    `host       ${dns ? `${dns.address}:53` : '-'}  ${dnsPid ? `running (pid ${dnsPid})` : 'stopped'}`,
  );
  for (const s of sandboxes) {
    if ((await s.status()) !== 'running') continue;
    const ca = await runningStepCa(s);
    if (ca !== undefined && state.ca) {
      const rootPem = await readFile(join(labPaths(labDir).ca, 'certs/root_ca.crt'), 'utf8');
      const healthy = await caHealthy({ url: state.ca.url, rootPem });
      add(
        {
          name: 'step-ca',
          kind: 'real',
          where: s.label,
          listen: state.ca.url,
          pid: ca,
          state: healthy ? 'healthy' : 'unhealthy',
        },
        `${s.label.padEnd(10)} ${state.ca.url}  pid ${ca}, /health ${healthy ? 'ok' : 'FAILING'}`,
      );
    }
    const ngx = await runningNginx(s);
    if (ngx) {
      const checks = await Promise.all(
        ngx.listen.map(
          async (l) => `${l.address}:${l.port} ${(await tcpOpen(l.address, l.port)) ? 'open' : 'CLOSED'}`,
        ),
      );
      add(
        {
          name: 'nginx',
          kind: 'real',
          where: s.label,
          listen: ngx.listen.map((l) => `${l.address}:${l.port}`).join(' '),
          pid: ngx.pid,
          state: 'running',
        },
        `${s.label.padEnd(10)} pid ${ngx.pid}: ${checks.join(', ')}`,
      );
    }
    const traefik = await runningTraefik(s);
    if (traefik)
      add(
        { name: 'traefik', kind: 'stand-in', where: s.label, pid: traefik.pid, state: 'running' },
        `${s.label.padEnd(10)} pid ${traefik.pid} (file provider, routes by Host)`,
      );
  }
  for (const p of await portainerStatus(labDir)) {
    const where = labelOf(String(p.guest));
    const how = `${p.running ? `running (pid ${p.pid})` : 'stopped'}, container ${p.container}`;
    if (p.kind === 'server')
      add(
        {
          name: 'portainer',
          kind: 'emulated',
          where,
          listen: p.url,
          ...(p.running ? { pid: p.pid } : {}),
          state: p.running ? 'running' : 'stopped',
        },
        `${where.padEnd(10)} ${p.url}  ${how} (Portainer API emulator from test/emulators/portainer; no Docker runs)`,
      );
    else
      add(
        {
          name: 'portainer-agent',
          kind: 'stand-in',
          where,
          listen: p.url,
          ...(p.running ? { pid: p.pid } : {}),
          state: p.running ? 'running' : 'stopped',
        },
        `${where.padEnd(10)} ${p.url}  ${how} (answers the agent's GET /ping over TLS)`,
      );
  }
  for (const [key, unit] of Object.entries(state.units)) {
    const [target, name] = [key.split('/')[0]!, key.split('/')[1]!];
    add(
      { name, kind: 'emulated', where: labelOf(target), state: unit.active ? 'active' : 'inactive' },
      `${labelOf(target).padEnd(10)} ${unit.active ? 'active' : 'inactive'} (last: systemctl ${unit.last}, ${unit.at})`,
    );
  }
  for (const [target, at] of Object.entries(state.trust)) {
    services.push({
      name: 'update-ca-certificates',
      kind: 'emulated',
      where: labelOf(target),
      state: at,
      summary: `  EMULATED  update-ca-certificates on ${labelOf(target)} (${at})`,
    });
  }
  const docker = new LabContainers(guestsDir, { getGuest: () => Promise.resolve(undefined) });
  for (const s of sandboxes) {
    const cs = await docker.containers(s.id);
    if (cs.length)
      add(
        {
          name: 'docker',
          kind: 'emulated',
          where: s.label,
          state: cs.map((c) => `${c.name}=${c.running ? 'running' : 'stopped'}`).join(' '),
        },
        `${s.label.padEnd(10)} ${cs.map((c) => `${c.name}${c.running ? '' : ' (stopped)'}`).join(', ')}`,
      );
  }
  return { lab: labDir, exists: true, guests, services };
}

async function printStatus(labDir: string, print: Print): Promise<void> {
  const status = await collectStatus(labDir);
  print(`lab ${status.lab}`);
  print(
    'guests (EMULATED Proxmox: pct/qm behaviour; each guest is a local sandbox with a uid-shifted rootfs)',
  );
  if (status.guests.length === 0) print('  (none yet: `phoenix sync all` creates them)');
  for (const g of status.guests)
    print(`  ${g.label.padEnd(8)} ${g.name.padEnd(22)} ${g.status.padEnd(8)} ${g.address}`);
  print('services');
  for (const s of status.services) print(s.summary);
  print(
    'EMULATED: Proxmox (pct/qm/API), Docker, Portainer (API emulator), other systemd units, update-ca-certificates. STAND-IN: Traefik, Portainer agent. REAL: step-ca, nginx, dnsmasq.',
  );
}
