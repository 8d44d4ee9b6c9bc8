import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalRunner } from '../../src/drivers/proxmox/cli/index.js';
import { pctByNode, type Connection } from '../../src/drivers/target/proxmox.js';

test('on a cluster, pct for a container runs on its own node; a node not listed uses the default runner', () => {
  const conn: Connection = {
    transport: 'cli',
    ssh: { destination: 'root@pve1', nodes: { pve2: 'root@10.0.0.22', pve3: 'admin@pve3.example' } },
  };
  const fallback = new LocalRunner();
  const pct = pctByNode(conn, fallback);
  assert.equal(pct('pve1').runner, fallback);
  assert.match(pct('pve2').runner.describe, /root@10\.0\.0\.22/);
  assert.match(pct('pve3').runner.describe, /admin@pve3\.example/);
  assert.equal(pct('pve2'), pct('pve2'), 'one runner (one SSH master) per node');
});
