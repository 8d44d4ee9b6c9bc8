import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError } from '../../drivers/errors.js';
import { emptyDocker } from '../../drivers/memory/docker-model.js';
import { flag, guestPathOf } from '../../drivers/memory/container-paths.js';
import { RESTARTS_ON_BOOT } from '../../drivers/memory/world.js';
import type { WorldContainer, WorldDocker } from '../../drivers/memory/world.js';
import type { GuestId, Inventory } from '../../model/inventory.js';
import { assertLoopback, labAddress } from '../address.js';
import { Sandbox } from '../sandbox.js';
import { readJson, writeJson } from '../sandbox-fs.js';
import { boundDirOf, checkGuestPath, hostPathOf, isInside } from '../sandbox-paths.js';
import { isAlive, procRef, spawnDetached, terminate, until } from '../sandbox-proc.js';
import type { ProcRef } from '../sandbox-proc.js';
import { serialised } from '../sandbox-store.js';
import { labPaths } from '../state.js';

/**
 * Portainer in the lab is EMULATED: while a guest's (emulated) Docker says a `portainer/portainer-ce|ee`
 * container runs, the lab runs the Portainer API emulator of the test tree (test/emulators/portainer/main.ts)
 * in its place, and a `portainer/agent` container gets a stand-in that answers the agent's `GET /ping`
 * (agent-standin.ts). No Docker and no Portainer run.
 *
 * They are HOST processes (root, detached, stopped by pid + start time like dnsmasq), not sandbox services:
 * the emulator imports the repository's modules and node_modules (yaml, @peculiar/x509), which a guest
 * cannot see (only its rootfs and the host's /usr), and copying that closure into each guest would be most
 * of the package. Each binds only its guest's lab address (127/8), and reads the guest's files through the
 * lab's view of the rootfs: `--sslcert/--sslkey` of the container's command, mapped through its bind
 * mounts, the way the real container sees the guest's files. Portainer's /data (its volume) is kept by the
 * lab under `<lab>/portainer/<guest>/data/`, so a restart keeps the admin, environments and stacks.
 *
 * Their lifetime follows the container: `reconcilePortainer` after each change of the guest's Docker state
 * (a restart, i.e. a new startedAt, restarts the process so it serves a renewed certificate); on the guest's
 * boot only containers with restart policy always/unless-stopped come back, as with Docker; a stopped or
 * deleted guest and `lab down` stop them.
 *
 *   <lab>/portainer/<guest>/<container>.json   the process (pid, start time, argv)
 *   <lab>/portainer/<guest>/<container>.log    its output
 *   <lab>/portainer/<guest>/data/<volume>.json  the emulator's persisted state
 *   <lab>/secrets/portainer-admin-password, portainer-agent-secret   (0600; never printed)
 */

const SERVER_IMAGE = /^(docker\.io\/)?portainer\/portainer-(ce|ee)([:@].*)?$/;
const AGENT_IMAGE = /^(docker\.io\/)?portainer\/agent([:@].*)?$/;
const SERVER_PORT = 9443;
const AGENT_PORT = 9001;
/** Docker's own rule for container names; the name becomes a file name here. */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const USR_LOCAL = '/usr/local/';
const USR_LOCAL_IN_LAB = '/var/lib/phoenix-lab/usr-local/';
/** What the programs print once they listen (with their pid): the lab's readiness signal. */
const READY = 'listening on';

export type PortainerKind = 'server' | 'agent';

export interface PortainerProcess extends ProcRef {
  readonly kind: PortainerKind;
  readonly guest: GuestId;
  readonly container: string;
  /** The container's startedAt this process mirrors: a newer one restarts it. */
  readonly startedAt: string;
  readonly address: string;
  readonly port: number;
  readonly argv: readonly string[];
  readonly log: string;
}

const rootDir = (labDir: string) => join(labDir, 'portainer');
const guestDir = (labDir: string, guest: GuestId) => join(rootDir(labDir), String(guest));
const recordFile = (labDir: string, guest: GuestId, container: string) =>
  join(guestDir(labDir, guest), `${container}.json`);

/** The compiled program in the test tree; missing when only src was built. */
function program(file: 'main.js' | 'agent-standin.js'): string {
  const path = fileURLToPath(new URL(`../../../test/emulators/portainer/${file}`, import.meta.url));
  if (!existsSync(path)) {
    throw new DriverError(
      `the lab's Portainer emulator is missing (${path}): build the test tree too (npx tsc -p tsconfig.build.json)`,
    );
  }
  return path;
}

// ---- secrets ------------------------------------------------------------------------------------------------

async function secretFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const value = randomBytes(32).toString('base64url');
  try {
    await writeFile(path, value, { mode: 0o600, flag: 'wx' });
    return value;
  } catch (e) {
    // Another caller made it first: theirs is the secret.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(path, 'utf8')).trim();
    throw e;
  }
}

/**
 * The lab's Portainer admin password and agent secret: made once (32 random bytes, base64url, 0600) next to
 * the lab's step-ca provisioner password, like it. The configuration's references are for real hosts.
 */
export async function labPortainerSecrets(
  labDir: string,
): Promise<{ adminPassword: string; agentSecret: string }> {
  const dir = labPaths(labDir).secrets;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return {
    adminPassword: await secretFile(join(dir, 'portainer-admin-password')),
    agentSecret: await secretFile(join(dir, 'portainer-agent-secret')),
  };
}

/** Where Phoenix reaches the lab's Portainer: the primary VM's lab address, and the certificate's name. */
export function labPortainerUrl(inv: Inventory): { url: string; servername?: string } | undefined {
  const primary = [...inv.guests.values()].find(
    (g) => g.kind === 'vm' && !g.isTemplate && g.config.portainer_role === 'primary',
  );
  const net = inv.hypervisor.network;
  const ip = primary?.ip !== undefined && primary.ip !== 'dhcp' ? primary.ip : net?.portainer_server_ip;
  if (!primary || ip === undefined) return undefined;
  const servername = inv.hypervisor.portainer_api?.portainer_hostname;
  return {
    url: `https://${labAddress(ip)}:${net?.portainer_server_port ?? SERVER_PORT}`,
    ...(servername ? { servername } : {}),
  };
}

// ---- what should run ----------------------------------------------------------------------------------------

export function portainerKindOf(image: string | undefined): PortainerKind | undefined {
  if (image === undefined) return undefined;
  if (SERVER_IMAGE.test(image)) return 'server';
  return AGENT_IMAGE.test(image) ? 'agent' : undefined;
}

function publishedPort(c: WorldContainer, containerPort: number): number {
  const p = c.ports?.find(
    (x) => x.container === containerPort && x.protocol === 'tcp' && x.host !== undefined,
  );
  if (!p?.host) {
    throw new DriverError(
      `${c.name}: no host port is published for ${containerPort}/tcp: nothing outside the container could reach it`,
    );
  }
  return p.host;
}

/** A guest file as the lab sees it: under the rootfs (no symlink out of it), /usr/local relocated. */
async function hostFileOf(sandbox: Sandbox, container: string, path: string): Promise<string> {
  let guestPath = checkGuestPath(path);
  if (guestPath.startsWith(USR_LOCAL)) guestPath = USR_LOCAL_IN_LAB + guestPath.slice(USR_LOCAL.length);
  if (boundDirOf(guestPath) !== undefined) {
    throw new DriverError(`${container}: ${path} is in a tree the lab binds from the host; not supported`);
  }
  const root = await realpath(sandbox.rootfs);
  const real = await realpath(hostPathOf(sandbox.rootfs, guestPath)).catch(() => undefined);
  if (real === undefined) throw new DriverError(`${container}: ${path} does not exist in ${sandbox.label}`);
  if (!isInside(root, real)) throw new DriverError(`${container}: ${path} leaves ${sandbox.label}'s root`);
  return real;
}

interface Wanted {
  readonly kind: PortainerKind;
  readonly container: string;
  readonly startedAt: string;
  readonly port: number;
  readonly argv: readonly string[];
}

async function wantedFor(
  labDir: string,
  sandbox: Sandbox,
  address: string,
  c: WorldContainer,
  kind: PortainerKind,
): Promise<Wanted> {
  if (!CONTAINER_NAME.test(c.name)) throw new DriverError(`invalid container name "${c.name}"`);
  if (kind === 'agent') {
    const port = publishedPort(c, AGENT_PORT);
    const argv = [process.execPath, program('agent-standin.js'), '--listen', `${address}:${port}`];
    return { kind, container: c.name, startedAt: c.startedAt, port, argv };
  }
  const port = publishedPort(c, SERVER_PORT);
  const argv = [process.execPath, program('main.js'), '--listen', `${address}:${port}`];
  for (const [option, name] of [
    ['--sslcert', '--cert'],
    ['--sslkey', '--key'],
  ] as const) {
    const inContainer = flag(c.command ?? [], option);
    if (inContainer === undefined) continue; // Portainer then makes its own self-signed pair
    const inGuest = guestPathOf(c, inContainer);
    if (inGuest === undefined) {
      throw new DriverError(`${c.name}: ${option} ${inContainer} is not in a mount of the container`);
    }
    argv.push(name, await hostFileOf(sandbox, c.name, inGuest));
  }
  // `-H`: Portainer makes its local environment ("primary") from it on a first start.
  const dockerHost = flag(c.command ?? [], '-H') ?? flag(c.command ?? [], '--host');
  if (dockerHost !== undefined) argv.push('--docker-host', dockerHost);
  const data = c.binds?.find((b) => b.target.replace(/\/+$/, '') === '/data');
  const key = data ? `${data.type}-${data.source}` : `container-${c.name}`;
  const dir = join(guestDir(labDir, sandbox.id), 'data');
  argv.push('--state', join(dir, `${key.replace(/[^A-Za-z0-9_.-]+/g, '_')}.json`), '--probe-agents');
  return { kind, container: c.name, startedAt: c.startedAt, port, argv };
}

// ---- the processes ------------------------------------------------------------------------------------------

/** Every process record of the lab (or of one guest), alive or not. */
export async function portainerProcesses(
  labDir: string,
  guest?: GuestId,
): Promise<Array<PortainerProcess & { readonly running: boolean }>> {
  const guests =
    guest !== undefined ? [String(guest)] : await readdir(rootDir(labDir)).catch(() => [] as string[]);
  const out: Array<PortainerProcess & { running: boolean }> = [];
  for (const g of guests) {
    const dir = join(rootDir(labDir), g);
    for (const f of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
      const rec = await readJson<PortainerProcess>(join(dir, f));
      if (rec) out.push({ ...rec, running: await isAlive(rec) });
    }
  }
  return out.sort((a, b) => a.guest - b.guest || a.container.localeCompare(b.container));
}

async function stopOne(labDir: string, rec: PortainerProcess): Promise<void> {
  await terminate([rec], 3000);
  await rm(recordFile(labDir, rec.guest, rec.container), { force: true });
}

async function startOne(labDir: string, guest: GuestId, address: string, w: Wanted): Promise<void> {
  const dir = guestDir(labDir, guest);
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const logPath = join(dir, `${w.container}.log`);
  const log = await open(logPath, 'a', 0o600);
  let child;
  try {
    child = await spawnDetached(w.argv, {}, ['ignore', log.fd, log.fd]);
  } finally {
    await log.close();
  }
  const marker = `pid ${child.pid} ${READY}`;
  let exited = false;
  void child.exited.then(() => (exited = true));
  const ready = await until(
    async () => exited || (await readFile(logPath, 'utf8').catch(() => '')).includes(marker),
    10_000,
  );
  if (exited || !ready) {
    const said = (await readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
    if (!exited) await terminate([await procRef(child.pid)], 1000).catch(() => undefined);
    throw new DriverError(
      `${w.container}: the lab's Portainer ${w.kind === 'server' ? 'emulator' : 'agent stand-in'} did not start on ${address}:${w.port}` +
        (said ? `\n${said}` : ''),
    );
  }
  const rec: PortainerProcess = {
    ...(await procRef(child.pid)),
    kind: w.kind,
    guest,
    container: w.container,
    startedAt: w.startedAt,
    address,
    port: w.port,
    argv: w.argv,
    log: logPath,
  };
  await writeJson(recordFile(labDir, guest, w.container), rec);
}

const sameProcess = (rec: PortainerProcess, w: Wanted, address: string) =>
  rec.kind === w.kind &&
  rec.startedAt === w.startedAt &&
  rec.address === address &&
  JSON.stringify(rec.argv) === JSON.stringify(w.argv);

export interface ReconcileOptions {
  /** The guest's Docker state; default: what the lab keeps in docker.json. */
  readonly docker?: WorldDocker;
  /** The guest's lab address; default: from its configured ip. */
  readonly address?: string;
  /**
   * The guest (re)booted, or the lab came up: a missing process comes back only for containers Docker
   * restarts (always, unless-stopped); running ones are kept.
   */
  readonly boot?: boolean;
}

/**
 * Makes the processes match the guest's running Portainer containers: starts what is missing, restarts
 * what changed (startedAt, port, certificate paths), stops what no longer runs. Throws what did not start.
 */
export function reconcilePortainer(
  labDir: string,
  guest: GuestId,
  opts: ReconcileOptions = {},
): Promise<void> {
  return serialised(`${guestDir(labDir, guest)}#portainer`, async () => {
    const docker =
      opts.docker ??
      (await readJson<WorldDocker>(join(labPaths(labDir).guests, String(guest), 'docker.json'))) ??
      emptyDocker();
    const current = await portainerProcesses(labDir, guest);
    // After a boot Docker starts only what its restart policy brings back; what still runs is kept.
    const comesBack = (c: WorldContainer) =>
      !opts.boot ||
      RESTARTS_ON_BOOT.has(c.restart ?? '') ||
      current.some((r) => r.container === c.name && r.running);
    const candidates = Object.values(docker.containers).filter(
      (c) => c.running && portainerKindOf(c.image) && comesBack(c),
    );
    if (candidates.length === 0 && current.length === 0) return;
    const sandbox = await Sandbox.open(labPaths(labDir).guests, guest);
    if (!sandbox) throw new DriverError(`guest ${guest} is not in the lab`);
    const ip = opts.address ?? sandbox.settings.ip;
    const address = ip === undefined || ip === 'dhcp' ? undefined : labAddress(ip);
    const wanted: Wanted[] = [];
    const problems: string[] = [];
    for (const c of candidates) {
      if (address === undefined) {
        problems.push(`${c.name}: ${sandbox.label} has no lab address to serve on`);
        continue;
      }
      assertLoopback(address, 'Portainer listen address');
      await wantedFor(labDir, sandbox, address, c, portainerKindOf(c.image)!).then(
        (w) => wanted.push(w),
        (e: Error) => problems.push(e.message),
      );
    }
    for (const rec of current) {
      const w = wanted.find((x) => x.container === rec.container);
      if (!w || !rec.running || !sameProcess(rec, w, address!)) await stopOne(labDir, rec);
    }
    for (const w of wanted) {
      const rec = current.find((r) => r.container === w.container);
      if (rec?.running && sameProcess(rec, w, address!)) continue;
      await startOne(labDir, guest, address!, w).catch((e: Error) => problems.push(e.message));
    }
    if (problems.length > 0) throw new DriverError(problems.join('\n'));
  });
}

/** Stops the processes of one guest (it stopped or is deleted), or of the whole lab; returns them. */
export async function stopPortainerProcesses(labDir: string, guest?: GuestId): Promise<PortainerProcess[]> {
  const stopped: PortainerProcess[] = [];
  for (const rec of await portainerProcesses(labDir, guest)) {
    await serialised(`${guestDir(labDir, rec.guest)}#portainer`, () => stopOne(labDir, rec));
    if (rec.running) stopped.push(rec);
  }
  return stopped;
}

export interface PortainerStatus {
  readonly kind: PortainerKind;
  readonly guest: GuestId;
  readonly container: string;
  /** https://ADDRESS:PORT for the server, ADDRESS:PORT for an agent. */
  readonly url: string;
  readonly pid?: number;
  readonly running: boolean;
}

const urlOf = (kind: PortainerKind, address: string, port: number | string) =>
  kind === 'server' ? `https://${address}:${port}` : `${address}:${port}`;

/**
 * For `lab status`: each process, and each Portainer container of the Docker state that has none running
 * (after `lab down`, or in a stopped guest).
 */
export async function portainerStatus(labDir: string): Promise<PortainerStatus[]> {
  const out: PortainerStatus[] = (await portainerProcesses(labDir)).map((r) => ({
    kind: r.kind,
    guest: r.guest,
    container: r.container,
    url: urlOf(r.kind, r.address, r.port),
    ...(r.running ? { pid: r.pid } : {}),
    running: r.running,
  }));
  for (const sandbox of await Sandbox.list(labPaths(labDir).guests)) {
    const docker = await readJson<WorldDocker>(join(sandbox.dir, 'docker.json')).catch(() => undefined);
    for (const c of Object.values(docker?.containers ?? {})) {
      const kind = portainerKindOf(c.image);
      if (!kind || out.some((o) => o.guest === sandbox.id && o.container === c.name)) continue;
      const ip = sandbox.settings.ip;
      const inPort = kind === 'server' ? SERVER_PORT : AGENT_PORT;
      const port = c.ports?.find((p) => p.container === inPort && p.host !== undefined)?.host ?? '-';
      let address = '-';
      try {
        if (ip !== undefined && ip !== 'dhcp') address = labAddress(ip);
      } catch {
        // an address the lab cannot map: shown as "-"
      }
      out.push({
        kind,
        guest: sandbox.id,
        container: c.name,
        url: urlOf(kind, address, port),
        running: false,
      });
    }
  }
  return out.sort((a, b) => a.guest - b.guest || a.container.localeCompare(b.container));
}
