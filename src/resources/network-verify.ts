import { DeadlineExceeded, DriverError } from '../drivers/errors.js';
import { ProbeError } from '../drivers/probe/errors.js';
import type { HttpProbeResponse } from '../drivers/probe/types.js';
import { mapLimit } from '../engine/concurrency.js';
import { waitFor } from '../engine/wait.js';
import { dnsRecords } from '../generate/dnsmasq.js';
import {
  clusterFirewallModel,
  guestFirewallModel,
  parseFirewallFile,
  type FirewallFile,
  type PveRule,
} from '../generate/firewall.js';
import { formatRule } from '../generate/firewall-format.js';
import { gatewayCertPaths } from '../generate/nginx-certs.js';
import { UPSTREAM_HEADER } from '../generate/nginx.js';
import { meshRoutes } from '../generate/routes.js';
import { gatewayGuest, meshGuest } from '../generate/topology.js';
import { MANAGED_PATHS } from '../graph/paths.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestId, GuestRef } from '../model/inventory.js';
import type { Context } from './types.js';

/**
 * Live proofs for the generated network files, run by the engine after a file was installed and its
 * program told (the `verifyLive` hook of configFileHandler). Each compares what the running program does
 * with the same pure function that generated its file, never with a second derivation:
 *   dns       dnsmasq answers every published name (dnsRecords) with exactly the expected address;
 *   firewall  the installed file parses (parseFirewallFile) to exactly the rule model of its scope;
 *   mesh      for every routed name the gateway serves, an HTTPS request to the gateway (SNI and Host =
 *             the name, chain verified against the internal CA) gets an answer that came from the mesh.
 */

/** dnsmasq was just restarted: give it a moment to answer at all (wrong answers are not retried). */
const DNS_ANSWER_DEADLINE_MS = 5_000;
const PARALLEL_QUERIES = 8;
/** How many wrong names a message lists before it says "and N more". */
const LISTED = 6;

function listed(items: readonly string[]): string {
  const shown = items.slice(0, LISTED).join('; ');
  return items.length > LISTED ? `${shown}; and ${items.length - LISTED} more` : shown;
}

/** dnsmasq on the host answers every generated name with the expected address, and only with it. */
export async function verifyDnsAnswers(ctx: Context): Promise<void> {
  const expected = dnsRecords(ctx.inventory);
  if (expected.length === 0) return;
  let wrong: string[] = [];
  let silent: string | undefined;
  const ask = async (): Promise<boolean> => {
    try {
      const answers = await mapLimit(expected, PARALLEL_QUERIES, (r) =>
        ctx.drivers.dns.lookup(r.name, { signal: ctx.signal }),
      );
      wrong = expected
        .map((r, i) => ({ r, got: answers[i]! }))
        .filter(({ r, got }) => got.length !== 1 || got[0] !== r.address)
        .map(
          ({ r, got }) =>
            `${r.name} → ${got.length ? got.join(', ') : 'no address'} (expected ${r.address}${r.via === 'gateway' ? ', the gateway' : ''})`,
        );
      silent = undefined;
      return true;
    } catch (e) {
      if (!(e instanceof DriverError)) throw e;
      silent = e.message;
      return false;
    }
  };
  try {
    await waitFor(ctx, 'dnsmasq on the host to answer', DNS_ANSWER_DEADLINE_MS, ask);
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    throw new DriverError(`dnsmasq on the host does not answer: ${silent ?? e.message}`);
  }
  if (wrong.length > 0) {
    throw new DriverError(
      `dnsmasq answers ${wrong.length} of ${expected.length} generated names wrong: ${listed(wrong)}`,
    );
  }
}

/** The rule model of a firewall scope: cluster.fw for 'host', `<id>.fw` for a guest. */
function firewallModel(ctx: Context, scope: GuestRef): { path: string; model: FirewallFile | undefined } {
  return scope === 'host'
    ? { path: MANAGED_PATHS.clusterFirewall, model: clusterFirewallModel(ctx.inventory) }
    : { path: MANAGED_PATHS.guestFirewall(scope), model: guestFirewallModel(ctx.inventory, scope) };
}

/** What differs between two parsed firewall files, in words (empty when they are the same). */
export function firewallDifferences(have: FirewallFile, want: FirewallFile): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(have.options), ...Object.keys(want.options)])].sort();
  for (const k of keys) {
    if (have.options[k] !== want.options[k])
      out.push(`option ${k} is ${have.options[k] ?? 'missing'}, the model says ${want.options[k] ?? 'none'}`);
  }
  const show = (r: PveRule | undefined) => (r ? `"${formatRule(r)}"` : 'missing');
  for (let i = 0; i < Math.max(have.rules.length, want.rules.length); i++) {
    const a = have.rules[i];
    const b = want.rules[i];
    if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`rule ${i + 1} is ${show(a)}, the model says ${show(b)}`);
  }
  return out;
}

/**
 * The installed firewall file, read back from the host and parsed the way pve-firewall reads it, holds
 * exactly the rule model of its scope (options, and rules in order). A file that does not parse fails
 * with the parser's reason.
 */
export async function verifyFirewallFile(ctx: Context, scope: GuestRef): Promise<void> {
  const { path, model } = firewallModel(ctx, scope);
  const read = await ctx.drivers.hypervisor.readFile('host', path);
  if (!read) throw new DriverError(`host:${path} is missing`);
  let parsed: FirewallFile;
  try {
    parsed = parseFirewallFile(new TextDecoder().decode(read.content));
  } catch (e) {
    throw new DriverError(`host:${path} does not parse as a Proxmox firewall file: ${(e as Error).message}`);
  }
  const want = model ?? { options: {}, rules: [] };
  const diffs = firewallDifferences(parsed, want);
  if (diffs.length > 0)
    throw new DriverError(`host:${path} does not hold the rule model of ${scope}: ${listed(diffs)}`);
}

/** The roots the gateway's certificates must verify against: every issuer that signs a certificate. */
async function internalRoots(ctx: Context): Promise<string> {
  const names = [...new Set(ctx.inventory.certificates.map((c) => c.issuer))]
    .filter((n) => ctx.inventory.issuers.has(n))
    .sort();
  return (await Promise.all(names.map((n) => ctx.drivers.issuer(n).roots()))).join('\n');
}

/**
 * Where an answer through the gateway came from, from the header the gateway's proxy adds (nginx.ts):
 * the mesh's own status, or nginx's status when the mesh sent no response header at all.
 */
export function answeredBy(res: HttpProbeResponse): { from: 'mesh' | 'nginx' | 'unknown'; status: number } {
  const value = res.headers[UPSTREAM_HEADER.toLowerCase()];
  if (value === undefined) return { from: 'unknown', status: res.status };
  // With retries nginx lists every attempt ("502, 200"); the last one answered.
  const statuses = value.split(' ')[0]!.split(',');
  const times = value.slice(value.indexOf(' ') + 1).split(',');
  const last = (times.at(-1) ?? '-').trim();
  const status = Number((statuses.at(-1) ?? '').trim()) || res.status;
  return { from: last === '-' || last === '' ? 'nginx' : 'mesh', status };
}

function whyNoAnswer(e: ProbeError, gw: GuestId, name: string): string {
  switch (e.failure) {
    case 'refused':
      return `${name}: nothing listens on the gateway ${gw}'s port 443 (nginx is not running, or serves no TLS yet): ${e.message}`;
    case 'handshake':
      return `${name}: the gateway ${gw} serves no TLS for this name yet (handshake refused): ${e.message}`;
    case 'untrusted':
      return `${name}: the gateway ${gw}'s certificate does not verify against the internal CA: ${e.message}`;
    default:
      return `${name}: ${e.message}`;
  }
}

/** The mesh node's proof: Traefik runs in the mesh guest (the gateway's proof checks that it is reached). */
export async function verifyMesh(ctx: Context, node: ResourceNode): Promise<void> {
  const spec = node.spec;
  const meshId = 'guest' in spec && typeof spec.guest !== 'object' ? spec.guest : undefined;
  if (meshId === undefined) return;
  const active = await ctx.drivers.hypervisor.exec(meshId, ['systemctl', 'is-active', 'traefik']);
  if (active.exitCode !== 0)
    throw new DriverError(
      `Traefik is not running in ${meshId} (systemctl is-active traefik: ${(active.stdout || active.stderr).trim() || `exit ${active.exitCode}`})`,
    );
}

/**
 * The gateway reaches the mesh: for every routed name that a certificate on the gateway covers (the names
 * the gateway has a TLS server for), an HTTPS GET to the gateway with SNI and Host = the name, verified
 * against the internal CA, gets an answer that came from the mesh. Any status from the mesh counts (a
 * backend that is down is the backend's business, and Traefik says so with its own 502); nginx's own
 * 502/504, or no answer at all, fails with the reason: the gateway not running, serving no TLS yet, or
 * not reaching the mesh.
 */
export async function verifyGatewayReachesMesh(ctx: Context): Promise<void> {
  const inv = ctx.inventory;
  const mesh = meshGuest(inv);
  const covers = gatewayCertPaths(inv);
  const names = meshRoutes(inv)
    .routes.map((r) => r.hostname)
    .filter((h) => covers(h) !== undefined);
  if (names.length === 0) return;
  const gw = gatewayGuest(inv);
  if (!gw || !mesh)
    throw new DriverError(
      `names are routed through the gateway to the mesh, but there is no ${gw ? 'mesh (feature "traefik")' : 'gateway (feature "nginx")'} guest with a static address`,
    );
  const status = (await ctx.drivers.hypervisor.getGuest(gw.id))?.status;
  if (status !== 'running')
    throw new DriverError(
      `the gateway ${gw.id} is ${status ?? 'missing'}, so nothing reaches the mesh through it (${names.join(', ')})`,
    );
  const trustedRoots = await internalRoots(ctx);
  const problems = (
    await mapLimit(names, PARALLEL_QUERIES, async (name): Promise<string | undefined> => {
      let res: HttpProbeResponse;
      try {
        res = await ctx.drivers.http.get({
          guest: gw.id,
          port: 443,
          scheme: 'https',
          serverName: name,
          trustedRoots,
          signal: ctx.signal,
        });
      } catch (e) {
        if (e instanceof ProbeError) return whyNoAnswer(e, gw.id, name);
        throw e;
      }
      const by = answeredBy(res);
      if (by.from === 'mesh') return undefined;
      if (by.from === 'nginx')
        return `${name}: the gateway cannot reach the mesh at ${mesh.ip}:80 (nginx answered ${by.status} itself)`;
      return `${name}: HTTP ${res.status} without the ${UPSTREAM_HEADER} header, so it did not come through the gateway's proxy to the mesh (is the installed site Phoenix's?)`;
    })
  ).filter((p): p is string => p !== undefined);
  if (problems.length > 0)
    throw new DriverError(
      `the gateway does not reach Traefik for ${problems.length} of ${names.length} routed names: ${listed(problems)}`,
    );
}
