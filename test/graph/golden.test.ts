import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { analyse } from '../../src/analyse.js';
import { executionOrder, requiredClosure, subgraph } from '../../src/graph/order.js';
import { renderGraph } from '../../src/graph/render.js';
import { assertGolden } from '../helpers/golden.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

test('the example topology renders to the golden graph in every format', async () => {
  const { graph, diagnostics } = await analyse(EXAMPLE);
  assert.equal(diagnostics.errorCount, 0);
  assertGolden('homelab.graph.mermaid', renderGraph(graph!, 'mermaid'));
  assertGolden('homelab.graph.dot', renderGraph(graph!, 'dot'));
  assertGolden('homelab.graph.json', renderGraph(graph!, 'json').replaceAll(EXAMPLE, '<example>'));
  assertGolden('homelab.order.txt', executionOrder(graph!).join('\n') + '\n');
});

test('the subgraph for the Portainer restart holds exactly what it needs', async () => {
  const { graph } = await analyse(EXAMPLE);
  const keep = requiredClosure(graph!, ['restart/1001:portainer_server']);
  assertGolden(
    'homelab.portainer-restart.order.txt',
    executionOrder(subgraph(graph!, keep)).join('\n') + '\n',
  );
  assert.ok(keep.has('volume/1001:portainer_data_nfs'), 'the restart transitively needs the volume');
  assert.ok(!keep.has('guest/101'), 'but not the gateway');
});
