import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineEvent } from '../../src/engine/events.js';
import {
  chooseMode,
  createRenderer,
  formatDuration,
  type RenderMode,
  type RenderStream,
} from '../../src/cli/render/index.js';

const T0 = Date.parse('2026-11-26T02:15:03.123Z');
/* eslint-disable no-control-regex -- matching terminal escapes is the point */
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const SGR_COLOUR = /\x1b\[3\dm/;
const CURSOR_UP_ERASE = /\x1b\[\d+A\x1b\[J/;
/* eslint-enable no-control-regex */

interface Fake {
  stream: RenderStream;
  text(): string;
  writes(): number;
}

function fakeStream(extra: { columns?: number; isTTY?: boolean } = {}): Fake {
  const chunks: string[] = [];
  const stream = {
    ...extra,
    write(s: string | Uint8Array) {
      chunks.push(String(s));
      return true;
    },
  } as unknown as RenderStream;
  return { stream, text: () => chunks.join(''), writes: () => chunks.length };
}

/** A scripted run; each step advances the injected clock and stamps the event with it. */
function script(): Array<[advanceMs: number, make: (at: string) => EngineEvent]> {
  return [
    [0, (at) => ({ type: 'run-start', runId: 'r1', command: 'sync all', dryRun: false, total: 5, at })],
    [10, (at) => ({ type: 'phase', phase: 'apply', at })],
    [
      5,
      (at) => ({
        type: 'node-start',
        id: 'guest/101',
        action: 'update',
        reason: 'memory 2048 → 4096 MB',
        at,
      }),
    ],
    [
      5,
      (at) => ({
        type: 'node-start',
        id: 'cert/a',
        action: 'create',
        reason: 'certificate does not exist',
        at,
      }),
    ],
    [
      100,
      (at) => ({ type: 'node-wait', id: 'guest/101', awaited: 'guest 101 running', deadlineMs: 60_000, at }),
    ],
    [
      100,
      (at) => ({
        type: 'node-retry',
        id: 'guest/101',
        attempt: 2,
        delayMs: 400,
        error: 'config lock timeout',
        at,
      }),
    ],
    [
      20,
      (at) => ({
        type: 'driver-call',
        id: 'guest/101',
        driver: 'hypervisor',
        method: 'writeFile',
        detail: '101:/etc/x',
        durationMs: 12,
        at,
      }),
    ],
    [
      900,
      (at) => ({
        type: 'node-end',
        id: 'guest/101',
        action: 'update',
        outcome: 'ok',
        reason: 'memory 2048 → 4096 MB',
        durationMs: 1200,
        at,
      }),
    ],
    [
      0,
      (at) => ({
        type: 'node-end',
        id: 'dns/zone',
        action: 'noop',
        outcome: 'unchanged',
        reason: 'up to date',
        durationMs: 3,
        at,
      }),
    ],
    [
      100,
      (at) => ({
        type: 'node-end',
        id: 'cert/a',
        action: 'create',
        outcome: 'failed',
        reason: 'certificate does not exist',
        error: 'CA returned 500: internal error',
        durationMs: 1300,
        at,
      }),
    ],
    [
      0,
      (at) => ({
        type: 'node-end',
        id: 'file/101:/etc/x',
        action: 'create',
        outcome: 'skipped',
        reason: 'because cert/a failed',
        durationMs: 0,
        at,
      }),
    ],
    [
      2960,
      (at) => ({
        type: 'run-end',
        runId: 'r1',
        outcome: 'failed',
        counts: { ok: 1, unchanged: 1, failed: 1, skipped: 1 },
        durationMs: 4200,
        at,
      }),
    ],
  ];
}

function run(
  mode: RenderMode,
  fake: Fake,
  opts: { verbose?: boolean; env?: NodeJS.ProcessEnv; stderr?: Fake } = {},
) {
  let t = T0;
  const r = createRenderer(mode, fake.stream, {
    verbose: opts.verbose,
    env: opts.env ?? {},
    now: () => t,
    stderr: opts.stderr?.stream,
  });
  const events: EngineEvent[] = [];
  for (const [dt, make] of script()) {
    t += dt;
    const e = make(new Date(t).toISOString());
    events.push(e);
    r.handle(e);
  }
  r.close();
  return events;
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

test('formatDuration: ms, seconds, minutes, and garbage', () => {
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(999.6), '1.0 s');
  assert.equal(formatDuration(1200), '1.2 s');
  assert.equal(formatDuration(9960), '10 s');
  assert.equal(formatDuration(60_000), '60 s');
  assert.equal(formatDuration(123_000), '2 min 03 s');
  assert.equal(formatDuration(3_900_000), '1 h 05 min');
  assert.equal(formatDuration(-5), '0 ms');
  assert.equal(formatDuration(Number.NaN), '0 ms');
});

test('json: one line per event that parses back to the event; driver calls only with verbose', () => {
  const out = fakeStream();
  const events = run('json', out);
  assert.deepEqual(
    lines(out.text()).map((l) => JSON.parse(l)),
    events.filter((e) => e.type !== 'driver-call'),
  );
  const verbose = fakeStream();
  const all = run('json', verbose, { verbose: true });
  assert.deepEqual(
    lines(verbose.text()).map((l) => JSON.parse(l)),
    all,
  );
});

const stamp = (offset: number) => new Date(T0 + offset).toISOString();

test('plain: one timestamped line per meaningful event and a summary; no unchanged, no ANSI', () => {
  const out = fakeStream({ isTTY: false });
  run('plain', out, { env: { FORCE_COLOR: '1' } });
  assert.deepEqual(lines(out.text()), [
    `${stamp(0)} run     sync all (5 resources, run r1)`,
    `${stamp(10)} phase   apply`,
    `${stamp(15)} start   update  guest/101  memory 2048 → 4096 MB`,
    `${stamp(20)} start   create  cert/a  certificate does not exist`,
    `${stamp(120)} wait    guest/101 for "guest 101 running" (deadline 60 s)`,
    `${stamp(220)} retry   guest/101 attempt 2 in 400 ms: config lock timeout`,
    `${stamp(1140)} ok      guest/101 (1.2 s)`,
    `${stamp(1240)} failed  cert/a  CA returned 500: internal error`,
    `${stamp(1240)} skipped file/101:/etc/x  (because cert/a failed)`,
    `${stamp(4200)} sync all: 1 ok, 1 unchanged, 1 failed, 1 skipped in 4.2 s`,
  ]);
  assert.ok(!out.text().includes('\x1b'), 'no escape codes in plain mode, even with FORCE_COLOR');
  assert.ok(!out.text().includes('dns/zone'), 'unchanged nodes are only counted');
});

test('plain verbose: unchanged nodes and driver calls get lines', () => {
  const out = fakeStream();
  run('plain', out, { verbose: true });
  const ls = lines(out.text());
  assert.ok(ls.includes(`${stamp(1140)} unchanged dns/zone  up to date`), out.text());
  assert.ok(ls.includes(`${stamp(240)}   driver hypervisor.writeFile 101:/etc/x 12 ms`), out.text());
  assert.equal(ls.length, 12);
});

test('plain: control characters in event fields cannot break lines or inject escapes', () => {
  const out = fakeStream();
  const r = createRenderer('plain', out.stream, { now: () => T0 });
  r.handle({
    type: 'node-end',
    id: 'cert/a',
    action: 'create',
    outcome: 'failed',
    reason: '',
    error: 'boom\n\x1b[31mred\x1b[0m\r\u202etxt',
    durationMs: 1,
    at: 'not a time',
  });
  r.close();
  const ls = lines(out.text());
  assert.equal(ls.length, 1);
  assert.ok(!out.text().includes('\x1b') && !out.text().includes('\u202e'));
  assert.ok(ls[0]?.startsWith(`${stamp(0)} failed  cert/a  boom `), ls[0]);
});

test('plain: close without run-end prints an incomplete summary', () => {
  const out = fakeStream();
  let t = T0;
  const r = createRenderer('plain', out.stream, { now: () => t });
  r.handle({ type: 'run-start', runId: 'r', command: 'sync all', dryRun: true, total: 2, at: stamp(0) });
  t += 1500;
  r.close();
  r.close();
  assert.equal(
    lines(out.text()).at(-1),
    `${stamp(1500)} sync all (dry run): 0 ok, 0 unchanged, 0 failed, 0 skipped in 1.5 s (incomplete)`,
  );
  assert.equal(lines(out.text()).length, 2);
});

function ttyRun(env: NodeJS.ProcessEnv) {
  const out = fakeStream({ columns: 60, isTTY: true });
  let t = T0;
  const r = createRenderer('tty', out.stream, { env, now: () => t });
  const long = 'x'.repeat(300);
  const steps = script();
  for (const [dt, make] of steps.slice(0, 6)) {
    t += dt;
    r.handle(make(new Date(t).toISOString()));
  }
  r.handle({ type: 'node-start', id: `stack/${long}`, action: 'replace', reason: long, at: stamp(t - T0) });
  r.handle({
    type: 'node-wait',
    id: `stack/${long}`,
    awaited: `😀 ${long}`,
    deadlineMs: 5000,
    at: stamp(t - T0),
  });
  t += 3000;
  r.flush();
  const live = out.text();
  for (const [dt, make] of steps.slice(6, -1)) {
    t += dt;
    r.handle(make(new Date(t).toISOString()));
  }
  r.handle({
    type: 'node-end',
    id: `stack/${long}`,
    action: 'replace',
    outcome: 'failed',
    reason: '',
    error: long,
    durationMs: 4000,
    at: stamp(t - T0),
  });
  r.handle({ type: 'interrupt', signal: 'SIGINT', running: ['a', 'b'], at: stamp(t - T0) });
  r.flush();
  const [dt, make] = steps.at(-1)!;
  t += dt;
  r.handle(make(new Date(t).toISOString()));
  r.close();
  return { live, all: out.text(), out };
}

test('tty: live block shows progress and running nodes, lines fit the width, colours on', () => {
  const { live, all } = ttyRun({});
  const liveText = live.replace(ANSI, '');
  assert.match(liveText, /^sync all {2}apply {2}0\/5 {2}3\.2 s {2}░{19}$/m);
  assert.match(liveText, /^ {2}guest\/101 {2}update {2}3\.2 s {2}retry 2: config lock timeout$/m);
  assert.match(liveText, /^ {2}cert\/a {2}create {2}3\.2 s$/m);
  assert.match(liveText, /^ {2}stack\/x+…$/m);
  for (const l of all.replace(ANSI, '').split('\n')) assert.ok(l.length <= 60, `${l.length}: ${l}`);
  const plainAll = all.replace(ANSI, '');
  assert.match(plainAll, /^ok {6}guest\/101 \(1\.2 s\)$/m);
  assert.match(plainAll, /^failed {2}cert\/a {2}CA returned 500: internal error$/m);
  assert.match(plainAll, /^failed {2}stack\/x+$/m, 'a long failure wraps rather than vanishing');
  assert.match(
    plainAll.replace(/\n {2}(?=\S)/g, ' '),
    /^interrupted \(SIGINT\): waiting for 2 running actions to finish; no new actions start$/m,
    'the notice, wrapped to the width',
  );
  assert.match(plainAll, /sync all: 1 ok, 1 unchanged, 1 failed, 1 skipped in 4\.2 s\n$/);
  assert.ok(!plainAll.includes('dns/zone'));
  assert.match(all, SGR_COLOUR);
  assert.match(all, CURSOR_UP_ERASE);
  assert.ok(all.endsWith('\n'), 'cursor left on a fresh line');
});

test('tty with NO_COLOR: no colour codes, but the live block is still redrawn in place', () => {
  const { all } = ttyRun({ NO_COLOR: '1' });
  assert.doesNotMatch(all, SGR_COLOUR);
  assert.match(all, CURSOR_UP_ERASE);
  assert.match(all.replace(ANSI, ''), /sync all: 1 ok, 1 unchanged, 1 failed, 1 skipped in 4\.2 s\n$/);
});

test('tty: redraws are throttled by the injected clock; flush forces one; close is final', () => {
  const out = fakeStream({ columns: 60, isTTY: true });
  let t = T0;
  const r = createRenderer('tty', out.stream, { env: {}, now: () => t });
  const [first, second, third] = script();
  r.handle(first![1](stamp(0)));
  assert.equal(out.writes(), 1);
  t += 10;
  r.handle(second![1](stamp(10)));
  assert.equal(out.writes(), 1, 'an event 10 ms after a redraw waits for the next frame');
  t += 100;
  r.handle(third![1](stamp(110)));
  assert.equal(out.writes(), 2, 'an event a frame later redraws');
  t += 10;
  r.flush();
  assert.equal(out.writes(), 3);
  r.flush();
  assert.equal(out.writes(), 3, 'nothing changed, nothing written');
  r.close();
  const n = out.writes();
  assert.match(
    out.text().replace(ANSI, ''),
    /sync all: 0 ok, 0 unchanged, 0 failed, 0 skipped in 120 ms\s+\(incomplete\)\n$/,
  );
  r.handle(third![1](stamp(200)));
  r.flush();
  assert.equal(out.writes(), n, 'events after close are ignored');
});

test('interrupt notice in every mode; json keeps stdout parseable', () => {
  const notice = 'interrupted (SIGINT): waiting for 1 running action to finish; no new actions start';
  const e: EngineEvent = { type: 'interrupt', signal: 'SIGINT', running: ['guest/101'], at: stamp(0) };
  for (const mode of ['plain', 'tty'] as const) {
    const out = fakeStream({ columns: 100, isTTY: mode === 'tty' });
    const r = createRenderer(mode, out.stream, { env: { NO_COLOR: '1' }, now: () => T0 });
    r.handle(e);
    r.close();
    assert.ok(out.text().replace(ANSI, '').includes(notice), `${mode}: ${out.text()}`);
  }
  const out = fakeStream();
  const err = fakeStream();
  const r = createRenderer('json', out.stream, { now: () => T0, stderr: err.stream });
  r.handle(e);
  r.close();
  assert.deepEqual(
    lines(out.text()).map((l) => JSON.parse(l)),
    [e],
  );
  assert.equal(err.text(), `${notice}\n`);
});

test('chooseMode: json when asked, tty on a capable terminal, plain otherwise', () => {
  const tty = { isTTY: true } as unknown as NodeJS.WriteStream;
  const pipe = { isTTY: false } as unknown as NodeJS.WriteStream;
  assert.equal(chooseMode({}, pipe, {}), 'plain');
  assert.equal(chooseMode({ json: true }, pipe, {}), 'json');
  assert.equal(chooseMode({ json: true }, tty, {}), 'json');
  assert.equal(chooseMode({}, tty, { TERM: 'xterm-256color' }), 'tty');
  assert.equal(chooseMode({}, tty, { TERM: 'dumb' }), 'plain');
});
