import { readFile } from 'node:fs/promises';
import type { Inventory } from '../../model/inventory.js';
import { readSecret } from '../../model/secret-value.js';
import { issuerFromConfig } from '../ca/from-config.js';
import type { IssuerDriver } from '../ca/types.js';
import { DriverError } from '../errors.js';
import type { Drivers } from '../index.js';
import { portainerFromConfig } from '../portainer/from-config.js';
import { probesFor } from '../probe/dial.js';
import { configuredSecrets } from '../secrets/configured.js';
import { PveApiClient, type PveApi } from '../proxmox/api/index.js';
import { LocalRunner, Pct, Pvesh, PveshApi, SshRunner, type CommandRunner } from '../proxmox/cli/index.js';
import { ProxmoxHypervisor } from '../proxmox/hypervisor.js';
import { DockerCliContainers } from './docker-cli.js';

/**
 * The real target's drivers, from the configuration's `proxmox` block: the hypervisor over the REST API
 * or over pvesh (LXC exec and files always through pct, locally or over SSH), Docker on a guest through
 * its CLI run inside it, issuers from the manifest, and probes that dial the configured addresses.
 */
export async function createProxmoxDrivers(inv: Inventory, stateDir: string): Promise<Drivers> {
  const conn = inv.hypervisor.proxmox;
  if (!conn)
    throw new DriverError(
      'target is "proxmox" but the configuration has no "proxmox" block',
      false,
      'config',
    );
  const runner = nodeRunner(conn);
  const api: PveApi =
    (conn.transport ?? 'api') === 'cli' ? new PveshApi(new Pvesh(runner)) : await apiClient(conn);
  const hypervisor = new ProxmoxHypervisor({
    api,
    pct: pctByNode(conn, runner),
    node: runner,
    inventory: inv,
    ...(conn.node_concurrency ? { nodeConcurrency: conn.node_concurrency } : {}),
  });
  const issuers = new Map<string, IssuerDriver>();
  const issuer = (name: string): IssuerDriver => {
    let i = issuers.get(name);
    if (i) return i;
    const cfg = inv.issuers.get(name);
    if (!cfg) throw new DriverError(`no issuer named "${name}"`);
    issuers.set(name, (i = issuerFromConfig(cfg, name, stateDir)));
    return i;
  };
  const secrets = configuredSecrets(inv);
  return {
    hypervisor,
    // Docker reached directly (Portainer's own projects); the hypervisor unguarded, as reads run docker.
    containers: new DockerCliContainers(hypervisor),
    portainer: portainerFromConfig({ inventory: inv, issuer, secrets, dial: (ip) => ip }),
    secrets,
    issuer,
    ...probesFor(inv, (ip) => ip),
  };
}

export type Connection = NonNullable<Inventory['hypervisor']['proxmox']>;

/**
 * pct acts only on containers of the node it runs on: on a cluster, `ssh.nodes` names the SSH destination
 * of each node; a node not listed uses the default runner.
 */
export function pctByNode(conn: Connection, runner: CommandRunner): (node: string) => Pct {
  const fallback = new Pct(runner);
  const perNode = new Map<string, Pct>();
  return (node) => {
    const destination = conn.ssh?.nodes?.[node];
    if (!destination) return fallback;
    let pct = perNode.get(node);
    if (!pct) perNode.set(node, (pct = new Pct(nodeRunner({ ...conn, ssh: { ...conn.ssh, destination } }))));
    return pct;
  };
}

/** Where pct (and, with the CLI transport, everything) runs: SSH to the node, or locally on it. */
export function nodeRunner(conn: Connection): CommandRunner {
  const destination = conn.ssh?.destination ?? (conn.host ? `root@${conn.host}` : undefined);
  if (!destination) return new LocalRunner();
  return new SshRunner({
    destination,
    ...(conn.ssh?.port ? { port: conn.ssh.port } : {}),
    ...(conn.ssh?.identity_file ? { identityFile: conn.ssh.identity_file } : {}),
    ...(conn.ssh?.config_file ? { configFile: conn.ssh.config_file } : {}),
  });
}

async function apiClient(conn: Connection): Promise<PveApiClient> {
  if (!conn.host || !conn.api)
    throw new DriverError('the API transport needs "host" and "api"', false, 'config');
  const secret = await readSecret(conn.api.token_secret, 'proxmox.api.token_secret');
  const caPem = conn.api.ca_file ? await readFile(conn.api.ca_file, 'utf8') : undefined;
  const trust = caPem
    ? { caPem, ...(conn.api.fingerprint ? { fingerprint: conn.api.fingerprint } : {}) }
    : { fingerprint: conn.api.fingerprint! };
  return new PveApiClient({
    host: conn.host,
    ...(conn.api.port ? { port: conn.api.port } : {}),
    auth: { kind: 'token', tokenId: conn.api.token_id, secret },
    trust,
  });
}
