import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileCertificateStore } from '../../src/certs/file-store.js';
import type { HttpProbeResponse } from '../../src/drivers/probe/types.js';
import { MANAGED_PATHS } from '../../src/graph/paths.js';
import {
  answeredBy,
  verifyDnsAnswers,
  verifyFirewallFile,
  verifyGatewayReachesMesh,
  verifyMesh,
} from '../../src/resources/network-verify.js';
import type { Context } from '../../src/resources/types.js';
import { cleanup, testEngine, type TestEngine } from '../helpers/engine.js';

/**
 * The live proofs of the network files against the emulated world: each passes on a synced example, and
 * each fails with its reason once the world is broken the way it would break for real (a wrong record, a
 * stopped dnsmasq, a firewall file that does not parse or holds other rules, a mesh the gateway cannot reach).
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const ROOT = { owner: 'root', group: 'root', mode: 0o644 } as const;

async function synced(): Promise<{ e: TestEngine; ctx: Context }> {
  const e = await testEngine(EXAMPLE);
  const r = await e.sync();
  assert.equal(r.outcome, 'ok', JSON.stringify(e.events.filter((x) => 'error' in x)));
  const ctx: Context = {
    inventory: e.analysis.inventory!,
    graph: e.graph,
    drivers: e.mem.drivers,
    certs: new FileCertificateStore(join(e.stateDir, 'certs')),
    signal: new AbortController().signal,
    waiting: () => {},
  };
  return { e, ctx };
}

async function exec(ctx: Context, target: 'host' | number, argv: string[]) {
  const r = await ctx.drivers.hypervisor.exec(target, argv);
  assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
}

const text = async (ctx: Context, path: string) =>
  new TextDecoder().decode((await ctx.drivers.hypervisor.readFile('host', path))!.content);
const write = (ctx: Context, path: string, content: string) =>
  ctx.drivers.hypervisor.writeFile('host', path, new TextEncoder().encode(content), ROOT);

test('after a sync every proof passes on the emulated world', async (t) => {
  const { e, ctx } = await synced();
  t.after(() => cleanup(e));
  await verifyDnsAnswers(ctx);
  for (const scope of ['host', 101, 102, 103, 1001, 1002] as const) await verifyFirewallFile(ctx, scope);
  await verifyGatewayReachesMesh(ctx);
  await verifyMesh(ctx, ctx.graph.nodes.get('mesh/102')!);
  // The path is proven by its own node, once both ends are in place; neither end waits for the other.
  assert.deepEqual([...ctx.graph.nodes.get('reach/101')!.requires].sort(), ['gateway/101', 'mesh/102']);
  assert.ok(!ctx.graph.nodes.get('gateway/101')!.requires.includes('mesh/102'));
});

test('dns: a records file with a wrong or missing address fails and names the record', async (t) => {
  const { e, ctx } = await synced();
  t.after(() => cleanup(e));
  const good = await text(ctx, MANAGED_PATHS.dnsmasq);
  await write(
    ctx,
    MANAGED_PATHS.dnsmasq,
    good
      .replace(
        'host-record=qdrant.internal.thinkheads.ai,10.0.0.153',
        'host-record=qdrant.internal.thinkheads.ai,10.0.0.102',
      )
      .replace(/^host-record=step-ca\..*$/m, ''),
  );
  await assert.rejects(verifyDnsAnswers(ctx), (err: Error) => {
    assert.match(err.message, /answers 2 of \d+ generated names wrong/);
    assert.match(
      err.message,
      /qdrant\.internal\.thinkheads\.ai → 10\.0\.0\.102 \(expected 10\.0\.0\.153, the gateway\)/,
    );
    assert.match(err.message, /step-ca\.internal\.thinkheads\.ai → no address \(expected 10\.0\.0\.10\)/);
    return true;
  });
  await write(ctx, MANAGED_PATHS.dnsmasq, `${good}host-record=bad name,10.0.0.1\n`);
  await assert.rejects(
    verifyDnsAnswers(ctx),
    /does not answer: .*"bad name" is neither a name nor an address/,
  );
});

test('dns: a stopped dnsmasq fails verification (after a bounded wait), saying it does not answer', async (t) => {
  const { e, ctx } = await synced();
  t.after(() => cleanup(e));
  await exec(ctx, 'host', ['systemctl', 'stop', 'dnsmasq']);
  const waited: string[] = [];
  await assert.rejects(
    verifyDnsAnswers({ ...ctx, waiting: (what) => waited.push(what) }),
    /dnsmasq on the host does not answer: .*dnsmasq is not running/,
  );
  assert.deepEqual(waited, ['dnsmasq on the host to answer']);
});

test('firewall: a file that does not parse, or holds other rules than the model, fails with the reason', async (t) => {
  const { e, ctx } = await synced();
  t.after(() => cleanup(e));
  const path = MANAGED_PATHS.guestFirewall(1001);
  const good = await text(ctx, path);
  await write(ctx, path, good.replace('[RULES]', '[RULES]\nIN ACCEPT -source'));
  await assert.rejects(
    verifyFirewallFile(ctx, 1001),
    /1001\.fw does not parse .*line \d+: unknown or incomplete option "-source"/,
  );
  const firstRule = good.split('\n').find((l) => /^IN |^OUT /.test(l))!;
  await write(ctx, path, good.replace(firstRule, firstRule.replace('ACCEPT', 'DROP')));
  await assert.rejects(
    verifyFirewallFile(ctx, 1001),
    /does not hold the rule model of 1001: rule 1 is "(IN|OUT) DROP .*", the model says "(IN|OUT) ACCEPT/,
  );
  await write(
    ctx,
    MANAGED_PATHS.clusterFirewall,
    (await text(ctx, MANAGED_PATHS.clusterFirewall)).replace(/^enable: 1$/m, 'enable: 0'),
  );
  await assert.rejects(verifyFirewallFile(ctx, 'host'), /option enable is 0, the model says 1/);
});

test('mesh: a stopped Traefik, or a gateway whose upstream is down, fails with the reason', async (t) => {
  const { e, ctx } = await synced();
  t.after(() => cleanup(e));
  const mesh = ctx.graph.nodes.get('mesh/102')!;
  await exec(ctx, 102, ['systemctl', 'stop', 'traefik']);
  await assert.rejects(verifyMesh(ctx, mesh), /Traefik is not running in 102/);
  await assert.rejects(
    verifyGatewayReachesMesh(ctx),
    /does not reach Traefik for 3 of 3 routed names: ca\.internal\.thinkheads\.ai: the gateway cannot reach the mesh at 10\.0\.0\.12:80 \(nginx answered 502 itself\)/,
  );
  await exec(ctx, 102, ['systemctl', 'start', 'traefik']);
  await verifyGatewayReachesMesh(ctx);
  // The mesh guest itself down: nginx cannot connect either.
  await ctx.drivers.hypervisor.stopGuest(102);
  await assert.rejects(verifyGatewayReachesMesh(ctx), /nginx answered 502 itself/);
});

test('mesh: the gateway not running, or serving no TLS, is said plainly; and the mesh node only proves Traefik', async (t) => {
  const { e, ctx } = await synced();
  t.after(() => cleanup(e));
  const mesh = ctx.graph.nodes.get('mesh/102')!;
  await exec(ctx, 101, ['systemctl', 'stop', 'nginx']);
  await assert.rejects(
    verifyGatewayReachesMesh(ctx),
    /qdrant\.internal\.thinkheads\.ai: nothing listens on the gateway 101's port 443 \(nginx is not running, or serves no TLS yet\)/,
  );
  await verifyMesh(ctx, mesh); // Traefik itself is fine
  await ctx.drivers.hypervisor.stopGuest(101);
  await assert.rejects(
    verifyGatewayReachesMesh(ctx),
    /the gateway 101 is stopped, so nothing reaches the mesh through it/,
  );
});

test('answeredBy tells the mesh from nginx by the upstream header time', () => {
  const res = (v?: string, status = 502): HttpProbeResponse => ({
    status,
    body: '',
    headers: v === undefined ? {} : { 'x-phoenix-upstream': v },
  });
  assert.deepEqual(answeredBy(res('502 -')), { from: 'nginx', status: 502 });
  assert.deepEqual(answeredBy(res('504 -', 504)), { from: 'nginx', status: 504 });
  assert.deepEqual(answeredBy(res('502 0.004')), { from: 'mesh', status: 502 });
  assert.deepEqual(answeredBy(res('502, 200 -, 0.010', 200)), { from: 'mesh', status: 200 });
  assert.deepEqual(answeredBy(res(undefined, 200)), { from: 'unknown', status: 200 });
});
