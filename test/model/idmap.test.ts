import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  effectiveIdMap,
  formatKernelMap,
  overlappingExceptions,
  toContainerId,
  toHostId,
} from '../../src/model/idmap.js';

test('an unprivileged container maps 0..65535 to 100000.. with configured holes', () => {
  const map = effectiveIdMap(true, [{ type: 'gid', host_id: 33, container_id: 33, size: 1 }]);
  assert.equal(formatKernelMap(map.gid), '0 100000 33\n33 33 1\n34 100034 65502\n');
  assert.equal(formatKernelMap(map.uid), '0 100000 65536\n');
  assert.equal(toHostId(map.gid, 33), 33);
  assert.equal(toHostId(map.uid, 0), 100000);
  assert.equal(toHostId(map.uid, 70000), undefined);
});

test('host root is nobody inside an unprivileged container', () => {
  const map = effectiveIdMap(true);
  assert.equal(toContainerId(map.uid, 0), undefined);
  assert.equal(toContainerId(map.uid, 100033), 33);
});

test('a privileged container uses host ids unchanged', () => {
  const map = effectiveIdMap(false, [{ type: 'gid', host_id: 33, container_id: 33, size: 1 }]);
  assert.equal(toHostId(map.uid, 0), 0);
  assert.equal(toContainerId(map.gid, 33), 33);
});

test('overlapping exceptions are found', () => {
  const overlaps = overlappingExceptions([
    { type: 'uid', host_id: 1000, container_id: 1000, size: 10 },
    { type: 'uid', host_id: 2000, container_id: 1005, size: 1 },
    { type: 'gid', host_id: 1000, container_id: 1000, size: 10 },
  ]);
  assert.deepEqual(overlaps, [[0, 1]]);
});
