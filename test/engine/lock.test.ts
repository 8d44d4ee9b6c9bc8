import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { acquireLock, LockHeldError, LockUnreadableError, type LockHolder } from '../../src/engine/lock.js';

const LOCK_MODULE = new URL('../../src/engine/lock.js', import.meta.url).href;
const CHILD_TIMEOUT_MS = 30_000;

function withLockPath(fn: (path: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), 'phoenix-lock-'));
    try {
      await fn(join(root, 'state', 'phoenix.lock'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''], { timeout: CHILD_TIMEOUT_MS });
  assert.equal(r.status, 0);
  assert.ok(r.pid);
  return r.pid;
}

function writeLockFile(path: string, holder: Partial<LockHolder> & { pid: number }): void {
  const content = {
    command: 'phoenix sync all',
    startedAt: '2026-11-26T02:15:03Z',
    hostname: hostname(),
    token: '0123456789abcdef',
    ...holder,
  };
  writeFileSync(path, JSON.stringify(content));
}

function lockFileContent(path: string): LockHolder {
  return JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
}

/**
 * A child that waits for a line on stdin, tries the lock, prints the result as JSON, and holds whatever it
 * got until its stdin closes; its exit handler then releases.
 */
const CHILD_SCRIPT = `
  const { acquireLock, LockHeldError } = await import(process.env.LOCK_MODULE);
  const readline = await import('node:readline');
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  process.stdout.write('ready\\n');
  await lines.next();
  let result;
  try {
    const lock = acquireLock(process.env.LOCK_PATH, { command: 'phoenix child' });
    result = { won: true, tookOverFrom: lock.tookOverFrom?.pid ?? null };
  } catch (e) {
    result = e instanceof LockHeldError ? { won: false, holder: e.holder.pid } : { error: String(e) };
  }
  process.stdout.write(JSON.stringify(result) + '\\n');
  while (!(await lines.next()).done);
  process.exit(0);
`;

interface ChildResult {
  won?: boolean;
  tookOverFrom?: number | null;
  holder?: number;
  error?: string;
}

class LockChild {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  readonly exited: Promise<void>;
  private stderr = '';

  constructor(lockPath: string) {
    this.proc = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
      env: { ...process.env, LOCK_MODULE, LOCK_PATH: lockPath },
      timeout: CHILD_TIMEOUT_MS,
    });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  get pid(): number {
    assert.ok(this.proc.pid);
    return this.proc.pid;
  }

  async line(): Promise<string> {
    const next = await this.lines.next();
    assert.equal(next.done, false, `child ${this.proc.pid} ended early: ${this.stderr}`);
    return next.value as string;
  }

  async ready(): Promise<void> {
    assert.equal(await this.line(), 'ready');
  }

  go(): void {
    this.proc.stdin.write('go\n');
  }

  async result(): Promise<ChildResult> {
    return JSON.parse(await this.line()) as ChildResult;
  }

  /** Closing stdin lets the child exit normally (its exit handler releases the lock). */
  async finish(): Promise<void> {
    this.proc.stdin.end();
    await this.exited;
  }

  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

async function childHoldingLock(lockPath: string): Promise<LockChild> {
  const child = new LockChild(lockPath);
  await child.ready();
  child.go();
  assert.deepEqual(await child.result(), { won: true, tookOverFrom: null });
  return child;
}

test(
  'a second acquire in the same process is refused, naming the holder',
  withLockPath((path) => {
    const first = acquireLock(path, { command: 'phoenix sync all' });
    try {
      assert.throws(
        () => acquireLock(path, { command: 'phoenix certs renew' }),
        (e: unknown) => {
          assert.ok(e instanceof LockHeldError);
          assert.equal(e.holder.pid, process.pid);
          assert.equal(e.holder.command, 'phoenix sync all');
          assert.equal(e.holder.startedAt, first.holder.startedAt);
          assert.equal(
            e.message,
            `another phoenix is running: pid ${process.pid}, \`phoenix sync all\`, started ${first.holder.startedAt} (lock ${path})`,
          );
          assert.match(first.holder.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          return true;
        },
      );
      assert.equal(
        lockFileContent(path).command,
        'phoenix sync all',
        'the refused acquire left the lock alone',
      );
    } finally {
      first.release();
    }
    assert.equal(existsSync(path), false);
  }),
);

test(
  'a lock held by another live process is refused; its normal exit releases it',
  { timeout: 60_000 },
  withLockPath(async (path) => {
    const child = await childHoldingLock(path);
    try {
      assert.throws(
        () => acquireLock(path, { command: 'phoenix sync' }),
        (e: unknown) =>
          e instanceof LockHeldError && e.holder.pid === child.pid && e.holder.command === 'phoenix child',
      );
    } finally {
      await child.finish();
    }
    assert.equal(existsSync(path), false, 'the exit handler removed the lock');
  }),
);

test(
  'a lock left by a killed process is taken over and the takeover reported',
  { timeout: 60_000 },
  withLockPath(async (path) => {
    const child = await childHoldingLock(path);
    await child.kill();
    assert.equal(lockFileContent(path).pid, child.pid, 'SIGKILL left the lock file behind');

    const lock = acquireLock(path, { command: 'phoenix sync' });
    try {
      assert.equal(lock.tookOverFrom?.pid, child.pid);
      assert.equal(lock.tookOverFrom?.command, 'phoenix child');
      assert.equal(lockFileContent(path).pid, process.pid);
      assert.deepEqual(readdirSync(join(path, '..')), ['phoenix.lock'], 'no claim or temp files are left');
    } finally {
      lock.release();
    }
  }),
);

test(
  'a lock file naming a dead pid is taken over',
  withLockPath((path) => {
    acquireLock(path, { command: 'setup' }).release(); // creates the directory
    const pid = deadPid();
    writeLockFile(path, { pid });
    const lock = acquireLock(path, { command: 'phoenix sync' });
    try {
      assert.deepEqual(lock.tookOverFrom, {
        pid,
        command: 'phoenix sync all',
        startedAt: '2026-11-26T02:15:03Z',
        hostname: hostname(),
      });
      assert.equal(lockFileContent(path).pid, process.pid);
    } finally {
      lock.release();
    }
  }),
);

test(
  'a dead pid on another host cannot be checked, so its lock is refused',
  withLockPath((path) => {
    acquireLock(path, { command: 'setup' }).release();
    writeLockFile(path, { pid: deadPid(), hostname: `not-${hostname()}` });
    assert.throws(
      () => acquireLock(path, { command: 'phoenix sync' }),
      /another phoenix is running: pid \d+ on not-/,
    );
  }),
);

test(
  'a damaged lock file is stale after 10 s and refused before',
  withLockPath((path) => {
    acquireLock(path, { command: 'setup' }).release();
    for (const content of ['', '{"pid": 12', 'null', '{"pid": -1, "command": "x"}']) {
      writeFileSync(path, content);
      assert.throws(
        () => acquireLock(path, { command: 'phoenix sync' }),
        LockUnreadableError,
        `fresh ${JSON.stringify(content)}`,
      );
      const minuteAgo = new Date(Date.now() - 60_000);
      utimesSync(path, minuteAgo, minuteAgo);
      const lock = acquireLock(path, { command: 'phoenix sync' });
      assert.equal(lock.tookOverFrom, undefined);
      assert.equal(lockFileContent(path).pid, process.pid, `took over ${JSON.stringify(content)}`);
      lock.release();
    }
  }),
);

test(
  'two processes taking over one stale lock: exactly one wins, the other names the winner',
  { timeout: 120_000 },
  withLockPath(async (path) => {
    acquireLock(path, { command: 'setup' }).release();
    for (let round = 0; round < 20; round++) {
      const stalePid = deadPid();
      writeLockFile(path, { pid: stalePid });
      const racers = [new LockChild(path), new LockChild(path)];
      try {
        await Promise.all(racers.map((r) => r.ready()));
        for (const r of racers) r.go();
        const results = await Promise.all(racers.map((r) => r.result()));
        // A recycled pid would make the "stale" lock live; then this round proves nothing.
        if (racers.some((r) => r.pid === stalePid)) continue;

        const winners = results.flatMap((res, i) => (res.won ? [racers[i]!] : []));
        assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
        const winner = winners[0]!;
        const loser = results.find((res) => !res.won);
        assert.equal(
          loser?.holder,
          winner.pid,
          `round ${round}: the loser names the winner: ${JSON.stringify(results)}`,
        );
        assert.equal(lockFileContent(path).pid, winner.pid);
      } finally {
        await Promise.all(racers.map((r) => r.finish()));
      }
      assert.deepEqual(
        readdirSync(join(path, '..')),
        [],
        `round ${round}: the winner released; nothing is left behind`,
      );
    }
  }),
);

test(
  'release removes only our own lock, and twice is harmless',
  withLockPath((path) => {
    const lock = acquireLock(path, { command: 'phoenix sync' });
    // Someone else's lock in its place (as after a takeover we did not notice).
    writeLockFile(path, { pid: process.pid + 1 });
    lock.release();
    assert.equal(lockFileContent(path).pid, process.pid + 1);

    rmSync(path);
    const again = acquireLock(path, { command: 'phoenix sync' });
    again.release();
    assert.equal(existsSync(path), false);
    again.release();
    assert.equal(existsSync(path), false);
  }),
);
