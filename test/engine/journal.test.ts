import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Journal, MAX_TEXT_CHARS } from '../../src/engine/journal.js';

const JOURNAL_MODULE = new URL('../../src/engine/journal.js', import.meta.url).href;

/** A fresh state directory (not yet created) inside a temp dir that is removed afterwards. */
function withJournalPath(fn: (path: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'phoenix-journal-'));
  try {
    fn(join(root, 'state', 'journal.sqlite'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function withJournal(fn: (j: Journal, path: string) => void): void {
  withJournalPath((path) => {
    const j = Journal.open(path);
    try {
      fn(j, path);
    } finally {
      j.close();
    }
  });
}

const RUN = {
  command: 'sync',
  args: ['all'],
  configDir: '/etc/phoenix',
  pid: process.pid,
  dryRun: false,
  startedAt: '2026-11-26T02:15:03.123Z',
};

test('a run with its actions round-trips', () => {
  withJournal((j) => {
    const runId = j.startRun(RUN);
    assert.match(runId, /^20261126T021503Z-[0-9a-f]{4}$/);
    const a1 = j.actionStarted(runId, { resourceId: 'guest/101', action: 'create', reason: 'not present' });
    j.actionEnded(a1, { outcome: 'ok', durationMs: 1234.4 });
    const a2 = j.actionStarted(runId, {
      resourceId: 'cert/web',
      action: 'update',
      reason: 'expires in 3 days',
      attempt: 2,
    });
    j.actionEnded(a2, { outcome: 'failed', error: 'step-ca: connection refused', durationMs: 50 });
    j.endRun(runId, {
      outcome: 'failed',
      counts: { ok: 1, unchanged: 4, failed: 1, skipped: 2 },
      durationMs: 9000,
    });

    const got = j.getRun(runId);
    assert.ok(got);
    const { endedAt, ...run } = got.run;
    assert.match(endedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(run, {
      ...RUN,
      runId,
      outcome: 'failed',
      counts: { ok: 1, unchanged: 4, failed: 1, skipped: 2 },
      durationMs: 9000,
    });
    const actions = got.actions.map(({ startedAt, endedAt, ...rest }) => {
      assert.ok(startedAt <= (endedAt ?? ''), 'an action ends after it starts');
      return rest;
    });
    assert.deepEqual(actions, [
      {
        actionId: a1,
        runId,
        resourceId: 'guest/101',
        action: 'create',
        reason: 'not present',
        outcome: 'ok',
        durationMs: 1234,
        attempt: 1,
      },
      {
        actionId: a2,
        runId,
        resourceId: 'cert/web',
        action: 'update',
        reason: 'expires in 3 days',
        outcome: 'failed',
        error: 'step-ca: connection refused',
        durationMs: 50,
        attempt: 2,
      },
    ]);
    assert.deepEqual(
      j.listRuns().map((r) => r.runId),
      [runId],
    );
  });
});

test('a started action is committed, and visible to another connection, before it ends', () => {
  withJournal((writer, path) => {
    const runId = writer.startRun(RUN);
    const actionId = writer.actionStarted(runId, {
      resourceId: 'guest/101',
      action: 'create',
      reason: 'not present',
    });
    const reader = Journal.open(path);
    try {
      assert.equal(reader.getRun(runId)?.actions[0]?.outcome, 'running');
      writer.actionEnded(actionId, { outcome: 'ok', durationMs: 5 });
      assert.equal(reader.getRun(runId)?.actions[0]?.outcome, 'ok');
    } finally {
      reader.close();
    }
  });
});

test('a process killed mid-action leaves a running record that reconcileCrashed marks crashed', () => {
  withJournalPath((path) => {
    // The child records a run and a started action, then dies by SIGKILL: no exit handlers, no cleanup.
    const script = `
      const { Journal } = await import(process.env.JOURNAL_MODULE);
      const j = Journal.open(process.env.JOURNAL_PATH);
      const runId = j.startRun({ command: 'sync', args: [], configDir: '/c', pid: process.pid, dryRun: false, startedAt: new Date().toISOString() });
      j.actionStarted(runId, { resourceId: 'guest/101', action: 'create', reason: 'not present' });
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, JOURNAL_MODULE, JOURNAL_PATH: path },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.signal, 'SIGKILL', child.stderr);

    const j = Journal.open(path);
    try {
      const before = j.getRun('last');
      assert.equal(before?.run.pid, child.pid);
      assert.equal(before?.run.outcome, 'running');
      assert.equal(before?.actions[0]?.outcome, 'running');

      assert.equal(j.reconcileCrashed(), 1);
      const after = j.getRun('last');
      assert.equal(after?.run.outcome, 'crashed');
      assert.equal(after?.actions[0]?.outcome, 'crashed');
      assert.match(after?.actions[0]?.error ?? '', new RegExp(`process ${child.pid} exited`));
      assert.equal(j.reconcileCrashed(), 0, 'a second reconcile finds nothing left');
    } finally {
      j.close();
    }
  });
});

test('reconcileCrashed leaves runs of live processes alone', () => {
  withJournal((j) => {
    const mine = j.startRun(RUN);
    const other = j.startRun({ ...RUN, pid: 999_999 });
    const alive = new Set([process.pid]);
    assert.equal(
      j.reconcileCrashed((pid) => alive.has(pid)),
      1,
    );
    assert.equal(j.getRun(mine)?.run.outcome, 'running');
    assert.equal(j.getRun(other)?.run.outcome, 'crashed');
    assert.equal(j.reconcileCrashed(), 0, 'the default liveness check sees this process');
  });
});

test('runs are found by id, unique prefix and "last"; ambiguous or unknown prefixes find nothing', () => {
  withJournal((j) => {
    const jan1 = j.startRun({ ...RUN, startedAt: '2026-01-01T00:00:00Z' });
    const jan2 = j.startRun({ ...RUN, startedAt: '2026-01-02T00:00:00Z' });
    const feb1 = j.startRun({ ...RUN, startedAt: '2026-02-01T00:00:00Z', command: 'certs renew' });

    assert.equal(j.getRun(jan1)?.run.runId, jan1);
    assert.equal(j.getRun('20260102')?.run.runId, jan2);
    assert.equal(j.getRun('last')?.run.runId, feb1);
    assert.equal(j.getRun('last')?.run.command, 'certs renew');
    assert.equal(j.getRun('202601'), undefined, 'two runs start with it');
    assert.deepEqual(j.findRunIds('202601'), [jan2, jan1]);
    assert.equal(j.getRun('2027'), undefined);
    assert.equal(j.getRun(''), undefined);
    assert.equal(j.getRun('%'), undefined, 'LIKE wildcards are not wildcards here');
    assert.deepEqual(
      j.listRuns().map((r) => r.runId),
      [feb1, jan2, jan1],
    );
    assert.deepEqual(
      j.listRuns(2).map((r) => r.runId),
      [feb1, jan2],
    );
  });
});

test('"last" on an empty journal finds nothing', () => {
  withJournal((j) => assert.equal(j.getRun('last'), undefined));
});

test('the journal file is 0600 (and its WAL too) in a 0700 directory', () => {
  withJournal((j, path) => {
    j.startRun(RUN); // forces the WAL file into existence
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
  });
});

test('opening again migrates nothing and keeps the data; a newer schema is refused', () => {
  withJournalPath((path) => {
    const first = Journal.open(path);
    const runId = first.startRun(RUN);
    first.close();
    const again = Journal.open(path);
    assert.equal(again.getRun(runId)?.run.runId, runId);
    again.close();

    const raw = new Database(path);
    assert.deepEqual(raw.prepare('SELECT version FROM schema_version').all(), [{ version: 2 }]);
    raw.exec('UPDATE schema_version SET version = 99');
    raw.close();
    assert.throws(() => Journal.open(path), /schema version 99 is newer than this phoenix understands/);
  });
});

test('long reasons and errors are truncated', () => {
  withJournal((j) => {
    const runId = j.startRun(RUN);
    const long = 'x'.repeat(10_000);
    const id = j.actionStarted(runId, { resourceId: 'guest/101', action: 'create', reason: long });
    j.actionEnded(id, { outcome: 'failed', error: 'e'.repeat(5000), durationMs: 1 });
    const action = j.getRun(runId)?.actions[0];
    assert.ok(action);
    assert.ok(action.reason.length <= MAX_TEXT_CHARS, `reason is ${action.reason.length} chars`);
    assert.match(action.reason, /^x+… \[truncated from 10000 characters\]$/);
    assert.ok((action.error ?? '').length <= MAX_TEXT_CHARS);
    assert.match(action.error ?? '', /^e+… \[truncated from 5000 characters\]$/);
  });
});

test('ending a run closes actions still running as interrupted', () => {
  withJournal((j) => {
    const runId = j.startRun(RUN);
    j.actionStarted(runId, { resourceId: 'guest/101', action: 'create', reason: 'not present' });
    j.endRun(runId, {
      outcome: 'interrupted',
      counts: { ok: 0, unchanged: 0, failed: 0, skipped: 1 },
      durationMs: 10,
    });
    const got = j.getRun(runId);
    assert.equal(got?.run.outcome, 'interrupted');
    assert.equal(got?.actions[0]?.outcome, 'interrupted');
    assert.throws(
      () =>
        j.endRun(runId, {
          outcome: 'ok',
          counts: { ok: 0, unchanged: 0, failed: 0, skipped: 0 },
          durationMs: 1,
        }),
      /is not running/,
    );
  });
});

test('an action for an unknown run, or ending an unknown action, is refused', () => {
  withJournal((j) => {
    assert.throws(
      () =>
        j.actionStarted('20260101T000000Z-beef', { resourceId: 'guest/1', action: 'create', reason: 'r' }),
      /FOREIGN KEY/,
    );
    assert.throws(
      () => j.actionEnded(12345, { outcome: 'ok', durationMs: 1 }),
      /action 12345 is not running/,
    );
  });
});

test('owed handlers survive the process and are cleared one by one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-journal-pending-'));
  const path = join(dir, 'journal.sqlite');
  try {
    const a = Journal.open(path);
    a.markPending(['reload/101:nginx', 'restart/1001:portainer_server'], 'file/101:/etc/nginx/ssl/a.key');
    a.markPending(['reload/101:nginx'], 'file/101:/etc/nginx/ssl/b.key');
    a.close();
    const b = Journal.open(path);
    assert.deepEqual([...b.pendingHandlers()].sort(), [
      ['reload/101:nginx', 'file/101:/etc/nginx/ssl/a.key'],
      ['restart/1001:portainer_server', 'file/101:/etc/nginx/ssl/a.key'],
    ]);
    b.clearPending('reload/101:nginx');
    assert.deepEqual([...b.pendingHandlers().keys()], ['restart/1001:portainer_server']);
    b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
