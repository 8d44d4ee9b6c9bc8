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
 * sandboxes), Docker and Portainer (containers.ts), other systemd units, update-ca-certificates.
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
  readonly where: string;
  readonly listen: string;
  readonly pid?: number;
  readonly state: 'running' | 'stopped' | 'healthy' | 'unhealthy';
  readonly kind: 'real' | 'emulated';
}

async function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

export async function labStatus(labDir: string, configDir: string | undefined, print: Print): Promise<void> {
  // The configuration is not needed: everything status shows is the lab's own state.
  void configDir;
  if (!existsSync(labDir)) {
    print(`no lab in ${labDir}: run \`phoenix lab up\``);
    return;
  }
  await printStatus(labDir, print);
}

async function printStatus(labDir: string, print: Print): Promise<void> {
  const state: LabState = await readLabState(labDir);
  const guestsDir = labPaths(labDir).guests;
  print(`lab ${labDir}`);
  print(
    'guests (EMULATED Proxmox: pct/qm behaviour; each guest is a local sandbox with a uid-shifted rootfs)',
  );
  const sandboxes = await Sandbox.list(guestsDir);
  if (sandboxes.length === 0) print('  (none yet: `phoenix sync all` creates them)');
  for (const s of sandboxes) {
    const ip = s.settings.ip;
    const addr = ip && ip !== 'dhcp' ? labAddress(ip) : (ip ?? '-');
    print(
      `  ${s.label.padEnd(8)} ${String(s.settings.name ?? '').padEnd(22)} ${(await s.status()).padEnd(8)} ${addr}`,
    );
  }
  const labelOf = (target: string) => sandboxes.find((s) => String(s.id) === target)?.label ?? target;
  print('services');
  const dnsPid = await dnsmasqRunning(labDir);
  const dns = state.dnsmasq;
  print(
    `  REAL      dnsmasq   host       ${dns ? `${dns.address}:53` : '-'}  ${dnsPid ? `running (pid ${dnsPid})` : 'stopped'}`,
  );
  for (const s of sandboxes) {
    if ((await s.status()) !== 'running') continue;
    const ca = await runningStepCa(s);
    if (ca !== undefined && state.ca) {
      const rootPem = await readFile(join(labPaths(labDir).ca, 'certs/root_ca.crt'), 'utf8');
      const healthy = await caHealthy({ url: state.ca.url, rootPem });
      print(
        `  REAL      step-ca   ${s.label.padEnd(10)} ${state.ca.url}  pid ${ca}, /health ${healthy ? 'ok' : 'FAILING'}`,
      );
    }
    const ngx = await runningNginx(s);
    if (ngx) {
      const checks = await Promise.all(
        ngx.listen.map(
          async (l) => `${l.address}:${l.port} ${(await tcpOpen(l.address, l.port)) ? 'open' : 'CLOSED'}`,
        ),
      );
      print(`  REAL      nginx     ${s.label.padEnd(10)} pid ${ngx.pid}: ${checks.join(', ')}`);
    }
    const traefik = await runningTraefik(s);
    if (traefik)
      print(`  STAND-IN  traefik   ${s.label.padEnd(10)} pid ${traefik.pid} (file provider, routes by Host)`);
  }
  for (const [key, unit] of Object.entries(state.units)) {
    print(
      `  EMULATED  ${key.split('/')[1]!.padEnd(9)} ${labelOf(key.split('/')[0]!).padEnd(10)} ${unit.active ? 'active' : 'inactive'} (last: systemctl ${unit.last}, ${unit.at})`,
    );
  }
  for (const [target, at] of Object.entries(state.trust)) {
    print(`  EMULATED  update-ca-certificates on ${labelOf(target)} (${at})`);
  }
  const docker = new LabContainers(guestsDir, { getGuest: () => Promise.resolve(undefined) });
  for (const s of sandboxes) {
    const cs = await docker.containers(s.id);
    if (cs.length)
      print(
        `  EMULATED  docker    ${s.label.padEnd(10)} ${cs.map((c) => `${c.name}${c.running ? '' : ' (stopped)'}`).join(', ')}`,
      );
  }
  print(
    'EMULATED: Proxmox (pct/qm/API), Docker, Portainer, other systemd units, update-ca-certificates. STAND-IN: Traefik. REAL: step-ca, nginx, dnsmasq.',
  );
}
