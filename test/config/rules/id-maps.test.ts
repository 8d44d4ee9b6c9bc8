import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, codes, lxc } from '../../helpers/config-fixture.js';

const withMaps = (id_maps: unknown[]) => ({
  lxc_configs: {
    '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'] }),
    '101': lxc('gateway', '10.0.0.153', { id_maps }),
  },
});

test('overlapping id_maps entries are an error at the later entry', async () => {
  const a = await analyseFixture({
    lxc: withMaps([
      { type: 'gid', host_id: 33, container_id: 33, size: 1 },
      { type: 'gid', host_id: 1000, container_id: 30, size: 10 },
    ]),
  });
  const [d] = a.diagnostics.items.filter((x) => x.code === 'guest.idmap-overlap');
  assert.ok(d, 'expected guest.idmap-overlap');
  assert.equal(d.severity, 'error');
  assert.equal(d.pointer, '/lxc_configs/101/id_maps/1');
  assert.match(d.message, /overlaps entry 0 \(gid 33→33, 1\)/);
});

test('disjoint id_maps entries, and uid and gid entries on the same ids, are fine', async () => {
  const a = await analyseFixture({
    lxc: withMaps([
      { type: 'gid', host_id: 33, container_id: 33, size: 1 },
      { type: 'uid', host_id: 33, container_id: 33, size: 1 },
      { type: 'gid', host_id: 1000, container_id: 1000, size: 10 },
    ]),
  });
  assert.deepEqual(codes(a, 'error'), []);
});
