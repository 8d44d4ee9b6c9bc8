import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureTraversable, readJson, writeJson } from './sandbox-fs.js';
import { serialised } from './sandbox-store.js';

/**
 * Where a lab keeps everything (one directory; `phoenix lab reset` removes it):
 *
 *   lab.json                       what the lab started and emulated (this module)
 *   guests/<id>/                   the sandboxes (rootfs, meta.json, run.json, docker.json)
 *   host/rootfs/                   the lab host's "/" (dnsmasq records, firewall files...)
 *   ca/                            the lab CA's material as prepared on the host side (0700)
 *   secrets/                       the lab's own provisioner password (0600)
 *   secrets/acme-accounts/         the lab's ACME account keys, one per issuer (0600)
 *   dnsmasq/                       the host DNS's own config and log
 *   state/                         Phoenix's journal, lock and certificate store when the driver is lab
 */

export const DEFAULT_LAB_DIR = '.phoenix-lab';

/** The lab directory: --lab-dir, else $PHOENIX_LAB_DIR, else ./.phoenix-lab. */
export function resolveLabDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(option ?? env.PHOENIX_LAB_DIR ?? DEFAULT_LAB_DIR);
}

export const labPaths = (dir: string) => ({
  dir,
  state: join(dir, 'lab.json'),
  guests: join(dir, 'guests'),
  hostRootfs: join(dir, 'host', 'rootfs'),
  ca: join(dir, 'ca'),
  secrets: join(dir, 'secrets'),
  password: join(dir, 'secrets', 'step-ca-provisioner-password'),
  acmeAccounts: join(dir, 'secrets', 'acme-accounts'),
  dnsmasq: join(dir, 'dnsmasq'),
  stateDir: join(dir, 'state'),
});
export type LabPaths = ReturnType<typeof labPaths>;

export interface TrackedProcess {
  readonly pid: number;
  /** Start time in clock ticks since boot: pid + start identify the process even if the pid is reused. */
  readonly start: number;
}

export interface LabCa {
  readonly guest: number;
  readonly address: string;
  readonly port: number;
  readonly url: string;
  readonly provisioner: string;
  readonly acmeProvisioner: string;
  readonly rootFingerprint: string;
}

export interface EmulatedUnit {
  readonly active: boolean;
  readonly at: string;
  readonly last: string;
}

export interface LabState {
  readonly format: 1;
  readonly configDir?: string;
  readonly dnsmasq?: TrackedProcess & { readonly address: string; readonly port: number };
  readonly ca?: LabCa;
  /** The cached step-ca binary `lab up` found or built. */
  readonly caBinary?: string;
  /** Emulated systemd units, by "<target>/<unit>" (target 'host' or a guest id). */
  readonly units: Readonly<Record<string, EmulatedUnit>>;
  /** Emulated `update-ca-certificates` runs, by target. */
  readonly trust: Readonly<Record<string, string>>;
  /** Guests that ran when `lab down` stopped them: `lab up` starts them again. */
  readonly resume?: readonly number[];
}

const EMPTY: LabState = { format: 1, units: {}, trust: {} };

export async function readLabState(dir: string): Promise<LabState> {
  return (await readJson<LabState>(labPaths(dir).state)) ?? EMPTY;
}

/** Read-modify-write of lab.json, serialised within this process. */
export function updateLabState(dir: string, change: (s: LabState) => LabState): Promise<LabState> {
  const path = labPaths(dir).state;
  return serialised(path, async () => {
    await ensureTraversable(dir);
    const next = change((await readJson<LabState>(path)) ?? EMPTY);
    await writeJson(path, next);
    return next;
  });
}

/**
 * The state directory Phoenix uses when the driver is lab and --state-dir is not given: <labDir>/state.
 * Undefined when the driver is not lab (explicitly, or by the config's target).
 */
export function labStateDirFor(
  configDir: string,
  driver: string | undefined,
  labDir: string,
): string | undefined {
  let target = driver;
  if (target === undefined) {
    try {
      const raw = JSON.parse(readFileSync(join(configDir, 'phoenix_hypervisor_config.json'), 'utf8')) as {
        target?: unknown;
      };
      // Absent means lab, as for the inventory.
      target = typeof raw.target === 'string' ? raw.target : 'lab';
    } catch {
      target = undefined;
    }
  }
  return target === 'lab' ? labPaths(labDir).stateDir : undefined;
}
