import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EngineEvent } from '../../src/engine/events.js';
import {
  criticalPath,
  inFlight,
  longestChain,
  longestGuestChain,
  nodeDurations,
  openBenchEngine,
  type TimedEvent,
} from '../../bench/engine.js';
import { writeSyntheticConfig } from '../../bench/synthetic.js';

/** The measuring code of bench/engine.ts, on hand-made data and on a small in-memory run. Not a timing test. */

const at = new Date(0).toISOString();
const end = (id: string, durationMs: number): EngineEvent => ({
  type: 'node-end',
  id,
  action: 'create',
  outcome: 'ok',
  reason: 'test',
  durationMs,
  at,
});

test('critical path: the heaviest chain of requirements, each node weighing its own duration', () => {
  //   a(10) ─┬─ b(20) ─┬─ d(5)
  //          └─ c(50) ─┘
  //   e(30)              f(1) requires a node outside the selection
  const requires: Record<string, string[]> = { a: [], b: ['a'], c: ['a'], d: ['b', 'c'], e: [], f: ['zz'] };
  const events: EngineEvent[] = [
    { type: 'phase', phase: 'apply', at },
    end('a', 10),
    end('e', 30),
    end('b', 20),
    end('f', 1),
    end('c', 50),
    end('d', 5),
  ];
  const durations = nodeDurations(events);
  assert.equal(durations.size, 6);
  assert.equal(durations.get('c'), 50);
  const ids = Object.keys(requires);
  const cp = criticalPath(ids, (id) => requires[id] ?? [], durations);
  assert.equal(cp.ms, 65);
  assert.deepEqual(cp.path, ['a', 'c', 'd']);

  // Order of ids does not matter; a heavier independent node takes over.
  const heavier = new Map(durations).set('e', 100);
  const cp2 = criticalPath([...ids].reverse(), (id) => requires[id] ?? [], heavier);
  assert.equal(cp2.ms, 100);
  assert.deepEqual(cp2.path, ['e']);

  // Unweighted: the longest chain in nodes.
  assert.equal(
    longestChain(ids, (id) => requires[id] ?? []),
    3,
  );
  assert.throws(() => criticalPath(['x', 'y'], (id) => (id === 'x' ? ['y'] : ['x']), new Map()), /cycle/);
});

test('in flight: peak overlap of node intervals and time at the limit', () => {
  // Intervals [t - d + 1, t]: a [1,10], b [1,20], c [11,30] (starts as a ends), d [16,20].
  const timed: TimedEvent[] = [
    { t: 10, e: end('a', 10) },
    { t: 20, e: end('b', 20) },
    { t: 30, e: end('c', 20) },
    { t: 20, e: end('d', 5) },
  ];
  const f = inFlight(timed, 3);
  assert.equal(f.peak, 3);
  assert.equal(f.saturatedMs, 4); // b, c and d from 16 to 20
  assert.equal(inFlight(timed, 2).saturatedMs, 18); // [1, 10] and [11, 20]
});

test('a small engine run: full sync changes things, a no-op sync right after makes zero mutating calls', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-bench-engine-test-'));
  try {
    writeSyntheticConfig(dir, { guests: 20, certificates: 20, stacks: 5, seed: 1 });
    const engine = await openBenchEngine(dir, { latencyMs: 0 });
    try {
      assert.ok(longestGuestChain(engine.analysis.inventory!) >= 2, 'the topology has dependency chains');
      const full = await engine.sync({ concurrency: 8, perNodeLimit: 8 });
      assert.equal(full.outcome, 'ok');
      assert.equal(full.counts.failed + full.counts.skipped, 0);
      assert.ok(full.counts.ok > 0, 'the full sync changed something');
      assert.ok(full.mutations > 0, 'the full sync made mutating calls');
      assert.ok(full.criticalPathNodes >= 2 && full.criticalPathMs > 0);
      // A chain runs in order, so it cannot outlast the run (1 ms of Date.now() rounding per node).
      assert.ok(
        full.criticalPathMs <= full.wallMs + full.criticalPathNodes,
        'critical path within the wall time',
      );
      assert.ok(full.observeMs > 0 && full.observeMs <= full.wallMs);
      assert.equal(full.ratio, full.wallMs / (full.observeMs + full.criticalPathMs));
      assert.ok(full.peakInFlight >= 1 && full.peakInFlight <= 8);
      const nodeEnds = engine.lastEvents.filter((x) => x.e.type === 'node-end');
      assert.equal(nodeEnds.length, engine.graph.nodes.size, 'one node-end per node');

      const before = engine.mutations();
      const noop = await engine.sync({ concurrency: 8, perNodeLimit: 8 });
      assert.equal(noop.outcome, 'ok');
      assert.equal(noop.mutations, 0, 'the no-op sync made no mutating call');
      assert.equal(engine.mutations(), before);
      assert.equal(noop.counts.ok, 0);
      assert.equal(noop.counts.unchanged, engine.graph.nodes.size);
      assert.ok(noop.driverCalls > 0, 'the no-op sync observed');

      const round = await engine.observeRound(8);
      assert.equal(round.failed, 0);
      const plan = await engine.plan(8);
      assert.equal(plan.summary.unchanged, engine.graph.nodes.size, 'a plan after the sync is all unchanged');
      assert.equal(engine.mutations(), before, 'observing and planning are read-only');
    } finally {
      engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
