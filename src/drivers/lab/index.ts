import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gatewayGuest } from '../../generate/topology.js';
import { assertLoopback, labAddress } from '../../lab/address.js';
import { LabContainers } from '../../lab/containers.js';
import { ensureCaMaterial, startStepCaInGuest } from '../../lab/services/step-ca.js';
import type { CaSpec } from '../../lab/services/step-ca.js';
import type { DnsSpec } from '../../lab/services/dnsmasq.js';
import { serialised } from '../../lab/sandbox-store.js';
import { labPaths, readLabState } from '../../lab/state.js';
import { caGuestOf, caPortOf } from '../../lab/view.js';
import type { GuestId, GuestRef, Inventory } from '../../model/inventory.js';
import type { IssuerDriver } from '../ca/types.js';
import { AcmeIssuer } from '../ca/acme.js';
import { StepCaJwkIssuer } from '../ca/step-jwk.js';
import { LazyIssuer } from '../ca/lazy.js';
import { DriverError } from '../errors.js';
import type { FileAttrs, FileRead } from '../hypervisor/types.js';
import type { Drivers } from '../index.js';
import { portainerFromConfig } from '../portainer/from-config.js';
import { probesFor } from '../probe/dial.js';
import type { SecretSource } from '../secrets/types.js';
import {
  labPortainerSecrets,
  reconcilePortainer,
  stopPortainerProcesses,
} from '../../lab/services/portainer.js';
import { labCommandHandler } from './commands.js';
import { LabHypervisor } from './hypervisor.js';
import type { LabGuestInfo } from './hypervisor.js';

/**
 * The lab target's drivers, built from the LAB VIEW of the inventory (every address already in 127/8):
 * the lab hypervisor (sandboxes; the CA guest starts its real step-ca when it starts), the lab's service
 * manager (commands.ts), the emulated Docker, and issuers pointed at the lab's own step-ca.
 */

/** A guest's /usr is the host's (bound read-only): files Phoenix installs under /usr/local live here instead. */
const USR_LOCAL = '/usr/local/';
const USR_LOCAL_IN_LAB = '/var/lib/phoenix-lab/usr-local/';
const relocate = (target: GuestRef, path: string) =>
  target !== 'host' && path.startsWith(USR_LOCAL) ? USR_LOCAL_IN_LAB + path.slice(USR_LOCAL.length) : path;

export interface LabDriversOptions {
  readonly labDir: string;
  /** The lab view (labView) of the inventory. */
  readonly inventory: Inventory;
}

/** What the lab knows about the CA from the inventory, or undefined when no guest runs step-ca. */
export function caSpecOf(inv: Inventory): CaSpec | undefined {
  const guest = caGuestOf(inv);
  const ip = guest === undefined ? undefined : inv.guests.get(guest)?.ip;
  if (guest === undefined || ip === undefined || ip === 'dhcp') return undefined;
  const jwk = [...inv.issuers.values()].find((i) => i.type === 'step-ca-jwk');
  const sc = inv.hypervisor.step_ca;
  const names = [sc?.dns_name, `ca.${inv.domain}`, `step-ca.${inv.domain}`, 'localhost'];
  for (const i of inv.issuers.values()) {
    const url = i.type === 'step-ca-jwk' ? i.url : i.directory;
    names.push(new URL(url).hostname);
  }
  return {
    guest,
    address: labAddress(ip),
    port: caPortOf(inv),
    provisioner: jwk?.type === 'step-ca-jwk' ? jwk.provisioner : (sc?.provisioner_name ?? 'admin'),
    acmeProvisioner: sc?.acme_provisioner ?? 'acme',
    dnsNames: [...new Set(names.filter((n): n is string => Boolean(n)))],
    ...(sc?.root_ca_name ? { rootName: sc.root_ca_name } : {}),
    ...(sc?.intermediate_ca_name ? { intermediateName: sc.intermediate_ca_name } : {}),
  };
}

export function dnsSpecOf(inv: Inventory): DnsSpec | undefined {
  return inv.hostAddress === undefined
    ? undefined
    : { address: labAddress(inv.hostAddress), domain: inv.domain };
}

export function guestInfoOf(inv: Inventory): (id: GuestId) => LabGuestInfo | undefined {
  const gw = gatewayGuest(inv)?.id;
  return (id) => {
    const g = inv.guests.get(id);
    if (!g) return undefined;
    return {
      unprivileged: g.kind === 'lxc' ? g.unprivileged : false,
      ...(g.kind === 'lxc' ? { idMap: g.idMap } : {}),
      ...(g.ip === undefined || g.ip === 'dhcp' ? {} : { address: g.ip }),
      ...(id === gw ? { privilegedPorts: [80, 443] } : {}),
    };
  };
}

export class LabDriverHypervisor extends LabHypervisor {
  constructor(
    labDir: string,
    private readonly inv: Inventory,
  ) {
    super({
      labDir,
      guests: guestInfoOf(inv),
      commandHandler: (t, a, o) => this.commands(t, a, o),
    });
  }

  private readonly commands = (...args: Parameters<ReturnType<typeof labCommandHandler>>) =>
    labCommandHandler({
      labDir: this.labDir,
      hypervisor: () => this,
      ...(dnsSpecOf(this.inv) ? { dns: dnsSpecOf(this.inv)! } : {}),
    })(...args);

  /** Starts the guest; the CA guest also starts its step-ca, as its systemd unit would. */
  override async startGuest(id: GuestId): Promise<void> {
    await super.startGuest(id);
    await this.startGuestServices(id);
  }

  /**
   * The services a running guest starts at boot in the lab: step-ca in the CA guest, and the Portainer
   * emulator or agent stand-in for containers Docker restarts at boot (services/portainer.ts).
   */
  async startGuestServices(id: GuestId): Promise<void> {
    await reconcilePortainer(this.labDir, id, { boot: true, address: await this.address(id) });
    const spec = caSpecOf(this.inv);
    if (spec?.guest !== id) return;
    const binary = (await readLabState(this.labDir)).caBinary;
    if (!binary)
      throw new DriverError('the lab is not up (no step-ca binary recorded): run `phoenix lab up`');
    const ca = await ensureCaMaterial(this.labDir, spec);
    await startStepCaInGuest(await this.sandbox(id), this.labDir, ca, binary);
  }

  /** A stopped or deleted guest no longer serves its containers' Portainer stand-ins (host processes). */
  override async stopGuest(id: GuestId): Promise<void> {
    await super.stopGuest(id);
    await stopPortainerProcesses(this.labDir, id);
  }
  override async deleteGuest(id: GuestId): Promise<void> {
    await stopPortainerProcesses(this.labDir, id);
    await super.deleteGuest(id);
  }

  override readFile(target: GuestRef, path: string): Promise<FileRead | undefined> {
    return super.readFile(target, relocate(target, path));
  }
  /**
   * Writes to one target one at a time: two concurrent writes that both create the same missing parent
   * directory race in the sandbox's mkdir (EEXIST), so the lab serialises them.
   */
  override writeFile(target: GuestRef, path: string, content: Uint8Array, attrs: FileAttrs): Promise<void> {
    return serialised(`${this.labDir}#write:${target}`, () =>
      super.writeFile(target, relocate(target, path), content, attrs),
    );
  }
  override removeFile(target: GuestRef, path: string): Promise<void> {
    return super.removeFile(target, relocate(target, path));
  }
  override renameFile(target: GuestRef, from: string, to: string): Promise<void> {
    return super.renameFile(target, relocate(target, from), relocate(target, to));
  }
}

/** Loads the lab CA's facts on first use: the issuers can be built before `lab up` ran. */
async function labCa(labDir: string) {
  const state = await readLabState(labDir);
  if (!state.ca) throw new DriverError('the lab CA is not prepared: run `phoenix lab up` first');
  const rootPem = await readFile(`${labPaths(labDir).ca}/certs/root_ca.crt`, 'utf8');
  return { ...state.ca, rootPem };
}

/** A step-ca-jwk issuer talks to the lab CA with the lab's own provisioner password and root. */
function labJwkIssuer(name: string, labDir: string): IssuerDriver {
  return new LazyIssuer(
    name,
    async () => {
      const ca = await labCa(labDir);
      const password = (await readFile(labPaths(labDir).password, 'utf8')).trim();
      return new StepCaJwkIssuer({
        url: ca.url,
        provisioner: ca.provisioner,
        password,
        rootFingerprint: ca.rootFingerprint,
        timeoutMs: 15_000,
        name,
      });
    },
    labRoot(labDir),
  );
}

const labRoot = (labDir: string) => async () => (await labCa(labDir)).rootPem;

/** An ACME issuer uses the lab-view directory (already on the CA guest's 127/8 address) and the lab root. */
function labAcmeIssuer(
  name: string,
  labDir: string,
  cfg: { readonly directory: string; readonly email?: string },
): IssuerDriver {
  return new LazyIssuer(
    name,
    async () => {
      const host = new URL(cfg.directory).hostname;
      try {
        assertLoopback(host, `ACME directory host of issuer "${name}"`);
      } catch (err) {
        throw new DriverError((err as Error).message, false, 'config');
      }
      const ca = await labCa(labDir);
      return new AcmeIssuer({
        name,
        directoryUrl: cfg.directory,
        ...(cfg.email ? { email: cfg.email } : {}),
        trustPem: ca.rootPem,
        accountKeyFile: join(labPaths(labDir).acmeAccounts, `${name}.key`),
        rootsPem: () => Promise.resolve(ca.rootPem),
        timeoutMs: 15_000,
      });
    },
    labRoot(labDir),
  );
}

export function createLabDrivers(opts: LabDriversOptions): Drivers & { hypervisor: LabDriverHypervisor } {
  const hypervisor = new LabDriverHypervisor(opts.labDir, opts.inventory);
  const containers = new LabContainers(hypervisor.guestsDir, hypervisor, undefined, {
    // EMULATED Portainer: its emulator (and agent stand-ins) run while their containers run.
    onChange: async (guest, docker) =>
      reconcilePortainer(opts.labDir, guest, { docker, address: await hypervisor.address(guest) }),
  });
  const issuers = new Map<string, IssuerDriver>();
  const dial = (ip: string) => assertLoopback(labAddress(ip), 'lab address');
  // Read (or made) once per session: every stack and the Portainer client ask for them.
  let labSecrets: ReturnType<typeof labPortainerSecrets> | undefined;
  const secrets: SecretSource = {
    read: async (name) => {
      labSecrets ??= labPortainerSecrets(opts.labDir).catch((err: unknown) => {
        labSecrets = undefined;
        throw err;
      });
      const s = await labSecrets;
      return name === 'portainer-admin-password' ? s.adminPassword : s.agentSecret;
    },
  };
  const drivers = {
    hypervisor,
    containers,
    secrets,
    // Every probe dials the lab's 127/8 stand-in of a configured address, never the address itself.
    ...probesFor(opts.inventory, dial),
    issuer(name: string): IssuerDriver {
      let i = issuers.get(name);
      if (i) return i;
      const cfg = opts.inventory.issuers.get(name);
      if (!cfg) throw new DriverError(`no issuer named "${name}"`);
      i =
        cfg.type === 'step-ca-jwk' ? labJwkIssuer(name, opts.labDir) : labAcmeIssuer(name, opts.labDir, cfg);
      issuers.set(name, i);
      return i;
    },
  };
  // EMULATED: the lab's Portainer is the test tree's API emulator, run when the server's container runs.
  const portainer = portainerFromConfig({
    inventory: opts.inventory,
    issuer: (name) => drivers.issuer(name),
    secrets,
    dial,
  });
  return { ...drivers, portainer };
}
