import { test } from 'node:test';
import assert from 'node:assert/strict';
import { walk, type VisitResult } from '../../src/engine/walk.js';

function graphOf(edges: Record<string, string[]>) {
  return { ids: Object.keys(edges), requires: (id: string) => edges[id] ?? [] };
}

test('a node starts only after everything it requires succeeded', async () => {
  const done: string[] = [];
  const g = graphOf({ a: [], b: ['a'], c: ['a', 'b'], d: [] });
  const out = await walk(g, async (id) => (done.push(id), 'ok'), { concurrency: 4 });
  assert.ok(done.indexOf('a') < done.indexOf('b') && done.indexOf('b') < done.indexOf('c'));
  assert.deepEqual(
    [...out.values()].map((o) => o.status),
    ['ok', 'ok', 'ok', 'ok'],
  );
});

test('a failure skips exactly its dependents, naming the root cause; independent branches finish', async () => {
  const g = graphOf({ a: [], b: ['a'], c: ['b'], d: [], e: ['d'], f: ['c', 'e'] });
  const skipped: string[] = [];
  const out = await walk(
    g,
    async (id) => {
      if (id === 'b') throw new Error('boom');
      return 'ok';
    },
    { concurrency: 2 },
    (id) => skipped.push(id),
  );
  assert.equal(out.get('a')!.status, 'ok');
  assert.equal(out.get('b')!.status, 'failed');
  assert.deepEqual(out.get('c'), { status: 'skipped', cause: 'b', reason: 'dependency-failed' });
  assert.deepEqual(out.get('f'), { status: 'skipped', cause: 'b', reason: 'dependency-failed' });
  assert.equal(out.get('e')!.status, 'ok');
  assert.deepEqual(skipped.sort(), ['c', 'f']);
});

test('global and per-key concurrency bounds hold', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `n${i}`);
  let running = 0;
  let peak = 0;
  const perKey = new Map<string, number>();
  let peakKey = 0;
  const key = (id: string) => (Number(id.slice(1)) % 2 ? 'odd' : 'even');
  await walk(
    { ids, requires: () => [] },
    async (id) => {
      running++;
      peak = Math.max(peak, running);
      perKey.set(key(id), (perKey.get(key(id)) ?? 0) + 1);
      peakKey = Math.max(peakKey, ...perKey.values());
      await new Promise((r) => setImmediate(r));
      perKey.set(key(id), perKey.get(key(id))! - 1);
      running--;
      return 'unchanged' as VisitResult;
    },
    { concurrency: 6, limitKey: key, limitPerKey: 2 },
  );
  assert.equal(peak, 4, 'two keys × two slots each');
  assert.equal(peakKey, 2);
});

test('after an interrupt no new node starts, running ones finish, the rest is skipped as interrupted', async () => {
  const ctrl = new AbortController();
  const started: string[] = [];
  const g = graphOf({ a: [], b: [], c: ['a'], d: ['b'] });
  const out = await walk(
    g,
    async (id) => {
      started.push(id);
      if (id === 'a') ctrl.abort();
      await new Promise((r) => setImmediate(r));
      return 'ok';
    },
    { concurrency: 1, signal: ctrl.signal },
  );
  assert.deepEqual(started, ['a']);
  assert.equal(out.get('a')!.status, 'ok');
  for (const id of ['b', 'c', 'd'])
    assert.equal((out.get(id) as { reason?: string }).reason, 'interrupted', id);
});

test('the longest chain is scheduled first when slots are scarce', async () => {
  // x1→x2→x3 is the critical path; y is a lone node. With one slot, x1 must go before y.
  const order: string[] = [];
  await walk(graphOf({ y: [], x1: [], x2: ['x1'], x3: ['x2'] }), async (id) => (order.push(id), 'ok'), {
    concurrency: 1,
  });
  assert.equal(order[0], 'x1');
});

test('a chain of 100,000 nodes walks without overflowing the stack', async () => {
  const edges: Record<string, string[]> = {};
  for (let i = 0; i < 100_000; i++) edges[`n${i}`] = i ? [`n${i - 1}`] : [];
  const out = await walk(graphOf(edges), async () => 'unchanged', { concurrency: 8 });
  assert.equal(out.size, 100_000);
});
