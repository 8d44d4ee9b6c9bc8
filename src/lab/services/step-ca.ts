import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificateFingerprint, httpsTransport } from '../../drivers/ca/trust.js';
import { DriverError } from '../../drivers/errors.js';
import type { Sandbox } from '../sandbox.js';
import { prepareCa } from '../step-ca/index.js';
import { labPaths, readLabState } from '../state.js';
import type { LabCa } from '../state.js';

/**
 * The real step-ca of the lab, run INSIDE the CA guest's sandbox: the material is prepared once on the
 * host side (`<lab>/ca`, 0700), then copied into the guest's /etc/step-ca owned by the guest's root (host
 * uid 100000 for an unprivileged guest) with a ca.json whose paths are the guest's, and the cached binary
 * is copied to /opt/step-ca/step-ca. It listens on the guest's lab address.
 */

export const STEP_CA_IN_GUEST = '/opt/step-ca/step-ca';
const CONFIG_IN_GUEST = '/etc/step-ca/config/ca.json';
const LOG_IN_GUEST = '/var/log/step-ca.log';

export interface CaSpec {
  readonly guest: number;
  readonly address: string;
  readonly port: number;
  readonly provisioner: string;
  readonly acmeProvisioner: string;
  readonly dnsNames: readonly string[];
  readonly rootName?: string;
  readonly intermediateName?: string;
}

/** The lab's own provisioner password: generated once, 0600 under <lab>/secrets. */
export async function labProvisionerPassword(labDir: string): Promise<string> {
  const p = labPaths(labDir);
  try {
    return (await readFile(p.password, 'utf8')).trim();
  } catch {
    await mkdir(p.secrets, { recursive: true, mode: 0o700 });
    const password = randomBytes(24).toString('base64url');
    await writeFile(p.password, password, { mode: 0o600, flag: 'wx' });
    return password;
  }
}

/** Prepares the CA material on the host side once; later calls return what exists. */
export async function ensureCaMaterial(labDir: string, spec: CaSpec): Promise<LabCa & { rootPem: string }> {
  const dir = labPaths(labDir).ca;
  const configPath = join(dir, 'config', 'ca.json');
  const exists = await stat(configPath).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await prepareCa(dir, {
      address: spec.address,
      port: spec.port,
      jwkProvisioner: spec.provisioner,
      provisionerPassword: await labProvisionerPassword(labDir),
      acmeProvisioner: spec.acmeProvisioner,
      dnsNames: spec.dnsNames,
      ...(spec.rootName ? { rootCommonName: `${spec.rootName} (Phoenix lab)` } : {}),
      ...(spec.intermediateName ? { intermediateCommonName: `${spec.intermediateName} (Phoenix lab)` } : {}),
    });
  }
  const config = JSON.parse(await readFile(configPath, 'utf8')) as { address: string };
  if (config.address !== `${spec.address}:${spec.port}`) {
    throw new DriverError(
      `the lab CA in ${dir} listens on ${config.address}, the configuration wants ${spec.address}:${spec.port}; run \`phoenix lab reset\``,
    );
  }
  const rootPem = await readFile(join(dir, 'certs', 'root_ca.crt'), 'utf8');
  return {
    guest: spec.guest,
    address: spec.address,
    port: spec.port,
    url: `https://${spec.address}:${spec.port}`,
    provisioner: spec.provisioner,
    acmeProvisioner: spec.acmeProvisioner,
    rootFingerprint: certificateFingerprint(rootPem),
    rootPem,
  };
}

const ROOT = { owner: 'root', group: 'root' } as const;

/** Copies the material, a guest-path ca.json and the binary into the guest (owned by the guest's root). */
async function installIntoGuest(sandbox: Sandbox, labDir: string, binary: string): Promise<void> {
  const dir = labPaths(labDir).ca;
  const files: Array<[string, string, number]> = [
    ['certs/root_ca.crt', '/etc/step-ca/certs/root_ca.crt', 0o644],
    ['certs/intermediate_ca.crt', '/etc/step-ca/certs/intermediate_ca.crt', 0o644],
    ['secrets/intermediate_ca_key', '/etc/step-ca/secrets/intermediate_ca_key', 0o600],
    ['secrets/root_ca_key', '/etc/step-ca/secrets/root_ca_key', 0o600],
  ];
  for (const [from, to, mode] of files) {
    await sandbox.writeFile(to, await readFile(join(dir, from)), { ...ROOT, mode });
  }
  const config = JSON.parse(await readFile(join(dir, 'config', 'ca.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const guestConfig = {
    ...config,
    root: '/etc/step-ca/certs/root_ca.crt',
    crt: '/etc/step-ca/certs/intermediate_ca.crt',
    key: '/etc/step-ca/secrets/intermediate_ca_key',
    db: { type: 'badgerv2', dataSource: '/etc/step-ca/db' },
  };
  await sandbox.writeFile(CONFIG_IN_GUEST, Buffer.from(`${JSON.stringify(guestConfig, null, 2)}\n`), {
    ...ROOT,
    mode: 0o600,
  });
  // The badger database directory must exist and belong to the guest's root.
  if (!(await sandbox.readFile('/etc/step-ca/db/.phoenix-lab'))) {
    await sandbox.writeFile('/etc/step-ca/db/.phoenix-lab', Buffer.from('lab CA database\n'), {
      ...ROOT,
      mode: 0o600,
    });
  }
  const current = await stat(join(sandbox.rootfs, STEP_CA_IN_GUEST)).catch(() => undefined);
  const wanted = await stat(binary);
  if (!current || current.size !== wanted.size) {
    await sandbox.writeFile(STEP_CA_IN_GUEST, await readFile(binary), { ...ROOT, mode: 0o755 });
  }
}

/** The step-ca service of the guest, when one runs. */
export async function runningStepCa(sandbox: Sandbox): Promise<number | undefined> {
  return (await sandbox.services()).find((s) => s.name === 'step-ca' && s.running)?.pid;
}

/**
 * Starts step-ca in the (running) CA guest unless it already runs, and waits until /health answers over
 * TLS verified against the lab root. Returns its pid.
 */
export async function startStepCaInGuest(
  sandbox: Sandbox,
  labDir: string,
  ca: LabCa & { rootPem: string },
  binary: string,
  timeoutMs = 30_000,
): Promise<number> {
  const running = await runningStepCa(sandbox);
  if (running !== undefined) return running;
  await installIntoGuest(sandbox, labDir, binary);
  // ACME http-01: step-ca resolves the names it validates with the lab's dnsmasq, which holds the lab's
  // records (guests on 127/8). Flags come before the config path (urfave/cli v1).
  const dns = (await readLabState(labDir)).dnsmasq;
  const resolver = dns ? ['--resolver', `${dns.address}:${dns.port}`] : [];
  const pid = await sandbox.spawnService([STEP_CA_IN_GUEST, ...resolver, CONFIG_IN_GUEST], {
    name: 'step-ca',
    logFile: LOG_IN_GUEST,
    env: { STEPPATH: '/etc/step-ca', HOME: '/root' },
    settleMs: 200,
  });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (await caHealthy(ca)) return pid;
    last = (await sandbox.services()).find((s) => s.pid === pid)?.running === false ? 'exited' : last;
    if (last === 'exited' || Date.now() > deadline) {
      await sandbox.stopService(pid).catch(() => undefined);
      throw new DriverError(
        `step-ca in ${sandbox.label} did not become healthy on ${ca.url} (${last || 'timeout'}); see ${LOG_IN_GUEST} in the guest`,
      );
    }
    await sleep(100);
  }
}

export async function caHealthy(ca: { url: string; rootPem: string }): Promise<boolean> {
  try {
    const res = await httpsTransport({
      method: 'GET',
      url: `${ca.url}/health`,
      trust: { ca: ca.rootPem },
      timeoutMs: 1000,
    });
    return res.status === 200 && res.body.includes('"ok"');
  } catch {
    return false;
  }
}
