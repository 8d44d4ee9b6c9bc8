import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { analyse } from '../../src/analyse.js';
import { dependentClosure, executionOrder, requiredClosure, subgraph } from '../../src/graph/order.js';
import type { ResourceGraph, ResourceNode } from '../../src/graph/types.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

/** A graph of bare nodes: id → the ids it requires. */
function graphOf(edges: Record<string, string[]>): ResourceGraph {
  const nodes = new Map<string, ResourceNode>();
  for (const [id, requires] of Object.entries(edges)) {
    nodes.set(id, { id, kind: 'dns', label: id, requires, triggers: [], owns: [], spec: { kind: 'dns' } });
  }
  return { nodes };
}

//   a ─► b ─► d
//   │         ▲
//   └──► c ───┘     e (unrelated)     f ─► c (f requires c)
const sample = graphOf({
  a: [],
  b: ['a'],
  c: ['a'],
  d: ['b', 'c'],
  e: [],
  f: ['c', 'e'],
});

test('dependentClosure: the ids themselves and everything downstream, transitively', () => {
  assert.deepEqual([...dependentClosure(sample, ['a'])].sort(), ['a', 'b', 'c', 'd', 'f']);
  assert.deepEqual([...dependentClosure(sample, ['c'])].sort(), ['c', 'd', 'f']);
  assert.deepEqual([...dependentClosure(sample, ['d'])].sort(), ['d']);
  assert.deepEqual([...dependentClosure(sample, ['b', 'e'])].sort(), ['b', 'd', 'e', 'f']);
});

test('dependentClosure: unknown ids are ignored, and nothing upstream is included', () => {
  assert.deepEqual([...dependentClosure(sample, ['nope'])], []);
  const down = dependentClosure(sample, ['b']);
  assert.ok(!down.has('a'), 'a requirement is not a dependent');
  assert.ok(!down.has('c'), 'a sibling is not a dependent');
});

test('dependentClosure terminates on a cycle', () => {
  const cyclic = graphOf({ x: ['z'], y: ['x'], z: ['y'], w: ['x'] });
  assert.deepEqual([...dependentClosure(cyclic, ['x'])].sort(), ['w', 'x', 'y', 'z']);
});

test('a certificate of the example: its files, its reload and the gateway config are downstream', async () => {
  const { graph } = await analyse(EXAMPLE);
  assert.ok(graph);
  const down = dependentClosure(graph, ['cert/nginx.internal.thinkheads.ai']);
  for (const id of [
    'cert/nginx.internal.thinkheads.ai',
    'file/101:/etc/nginx/ssl/nginx.internal.thinkheads.ai.crt',
    'file/101:/etc/nginx/ssl/nginx.internal.thinkheads.ai.key',
    'gateway/101',
    'reload/101:nginx',
  ])
    assert.ok(down.has(id), `${id} is downstream of the certificate`);
  for (const id of [
    'guest/101',
    'issuer/internal',
    'cert/traefik.internal.thinkheads.ai',
    'reload/102:traefik',
  ])
    assert.ok(!down.has(id), `${id} is not downstream of the certificate`);
  // With what those require, it is a runnable selection: the reload also needs the client certificate's
  // files, so that certificate comes along (and is renewed only if due).
  const needed = requiredClosure(graph, [...down]);
  assert.ok(needed.has('cert/nginx-gateway-client'));
  assert.ok(needed.has('issuer/internal'));
  assert.ok(!needed.has('cert/traefik.internal.thinkheads.ai'));
  const order = executionOrder(subgraph(graph, needed));
  assert.equal(order.length, needed.size, 'every selected node is ordered');
  assert.ok(
    order.indexOf('cert/nginx.internal.thinkheads.ai') < order.indexOf('reload/101:nginx'),
    'the certificate comes before its reload',
  );
});
