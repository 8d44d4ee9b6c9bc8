import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Action } from '../resources/types.js';
import { now, type Counts, type NodeOutcome, type RunOutcome } from './events.js';
import { isProcessAlive } from './lock.js';

/**
 * The run journal: every run and every action, written before and after each mutation, so a crash
 * (even SIGKILL or power loss) leaves a record of what was under way. One SQLite file in WAL mode with
 * synchronous=NORMAL; every write is one transaction, so the file is consistent at any instant.
 */

export type RunState = RunOutcome | 'crashed' | 'running';
/**
 * 'crashed': the process died while the action ran; 'interrupted': the run ended before the action
 * recorded an outcome. Either way the mutation may or may not have happened; the next run observes.
 */
export type ActionState = NodeOutcome | 'running' | 'crashed' | 'interrupted';

export interface RunRecord {
  runId: string;
  command: string;
  args: string[];
  configDir: string;
  pid: number;
  dryRun: boolean;
  startedAt: string;
  endedAt?: string;
  outcome?: RunState;
  counts?: Counts;
  durationMs?: number;
}

export interface ActionRecord {
  actionId: number;
  runId: string;
  resourceId: string;
  action: Action;
  reason: string;
  startedAt: string;
  endedAt?: string;
  outcome?: ActionState;
  error?: string;
  durationMs?: number;
  attempt: number;
}

export type NewRun = Omit<RunRecord, 'runId' | 'outcome' | 'endedAt' | 'counts' | 'durationMs'>;

/** Longer reason/error strings are cut: a driver error could quote a whole response body. */
export const MAX_TEXT_CHARS = 2000;

/** Schema migrations; entry i brings the schema to version i + 1. Append only, never edit. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    config_dir TEXT NOT NULL,
    pid INTEGER NOT NULL,
    dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    count_ok INTEGER,
    count_unchanged INTEGER,
    count_failed INTEGER,
    count_skipped INTEGER,
    duration_ms INTEGER
  );
  CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
  CREATE TABLE actions (
    action_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    resource_id TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    duration_ms INTEGER
  );
  CREATE INDEX actions_by_run ON actions (run_id, action_id);
  `,
  // Handlers (reloads, restarts) owed because something they watch changed; cleared once they ran. A run
  // that dies between the change and the handler leaves the debt here for the next run to pay.
  `
  CREATE TABLE pending_handlers (
    resource_id TEXT PRIMARY KEY,
    cause TEXT NOT NULL,
    since TEXT NOT NULL
  );
  `,
];
const SCHEMA_VERSION = MIGRATIONS.length;
const RUN_ID_ATTEMPTS = 5;

interface RunRow {
  run_id: string;
  command: string;
  args: string;
  config_dir: string;
  pid: number;
  dry_run: number;
  started_at: string;
  ended_at: string | null;
  outcome: RunState;
  count_ok: number | null;
  count_unchanged: number | null;
  count_failed: number | null;
  count_skipped: number | null;
  duration_ms: number | null;
}

interface ActionRow {
  action_id: number;
  run_id: string;
  resource_id: string;
  action: Action;
  reason: string;
  attempt: number;
  started_at: string;
  ended_at: string | null;
  outcome: ActionState;
  error: string | null;
  duration_ms: number | null;
}

// Multi-statement writes use BEGIN IMMEDIATE: a deferred transaction that upgrades from read to write can
// fail at once with SQLITE_BUSY instead of waiting out busy_timeout.
export class Journal {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  static open(path: string): Journal {
    createPrivateFile(path);
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: 5000 });
      configure(db);
      migrate(db);
      return new Journal(db, path);
    } catch (error) {
      db?.close();
      throw new Error(`cannot open the journal ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared once per connection: the engine journals several times per changed resource. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  startRun(r: NewRun): string {
    const startedAt = isoTime(r.startedAt);
    const insert = this.stmt(
      `INSERT INTO runs (run_id, command, args, config_dir, pid, dry_run, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    for (let attempt = 1; ; attempt++) {
      const runId = newRunId(startedAt);
      try {
        insert.run(runId, r.command, JSON.stringify(r.args), r.configDir, r.pid, r.dryRun ? 1 : 0, startedAt);
        return runId;
      } catch (error) {
        // Two runs in the same second with the same 16-bit suffix: draw again.
        if (sqliteCode(error) !== 'SQLITE_CONSTRAINT_UNIQUE' || attempt >= RUN_ID_ATTEMPTS) throw error;
      }
    }
  }

  actionStarted(
    runId: string,
    a: { resourceId: string; action: Action; reason: string; attempt?: number },
  ): number {
    const info = this.stmt(
      `INSERT INTO actions (run_id, resource_id, action, reason, attempt, started_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(runId, a.resourceId, a.action, clip(a.reason), a.attempt ?? 1, now());
    return Number(info.lastInsertRowid);
  }

  actionEnded(actionId: number, e: { outcome: NodeOutcome; error?: string; durationMs: number }): void {
    const info = this.stmt(
      `UPDATE actions SET outcome = ?, error = ?, duration_ms = ?, ended_at = ?
         WHERE action_id = ? AND outcome = 'running'`,
    ).run(e.outcome, e.error === undefined ? null : clip(e.error), wholeMs(e.durationMs), now(), actionId);
    if (info.changes !== 1) throw new Error(`journal: action ${actionId} is not running, so it cannot end`);
  }

  endRun(runId: string, e: { outcome: RunOutcome; counts: Counts; durationMs: number }): void {
    const endedAt = now();
    this.db
      .transaction(() => {
        const info = this.stmt(
          `UPDATE runs SET outcome = ?, ended_at = ?, duration_ms = ?,
             count_ok = ?, count_unchanged = ?, count_failed = ?, count_skipped = ?
           WHERE run_id = ? AND outcome = 'running'`,
        ).run(e.outcome, endedAt, wholeMs(e.durationMs), ...countValues(e.counts), runId);
        if (info.changes !== 1) throw new Error(`journal: run ${runId} is not running, so it cannot end`);
        // An action without an outcome would otherwise read as 'running' forever.
        this.closeRunningActions(
          runId,
          'interrupted',
          `the run ended (${e.outcome}) before this action recorded an outcome`,
          endedAt,
        );
      })
      .immediate();
  }

  reconcileCrashed(isAlive: (pid: number) => boolean = isProcessAlive): number {
    const running = this.stmt(`SELECT run_id, pid FROM runs WHERE outcome = 'running'`).all() as Pick<
      RunRow,
      'run_id' | 'pid'
    >[];
    let crashed = 0;
    for (const run of running) {
      if (!isAlive(run.pid) && this.markCrashed(run.run_id, run.pid)) crashed++;
    }
    return crashed;
  }

  listRuns(limit?: number): RunRecord[] {
    const rows = this.stmt('SELECT * FROM runs ORDER BY seq DESC LIMIT ?').all(limitValue(limit)) as RunRow[];
    return rows.map(runFromRow);
  }

  getRun(runIdOrPrefix: string): { run: RunRecord; actions: ActionRecord[] } | undefined {
    const row = runIdOrPrefix === 'last' ? this.newestRun() : this.runByIdOrPrefix(runIdOrPrefix);
    if (!row) return undefined;
    const actions = this.stmt('SELECT * FROM actions WHERE run_id = ? ORDER BY action_id').all(
      row.run_id,
    ) as ActionRow[];
    return { run: runFromRow(row), actions: actions.map(actionFromRow) };
  }

  /** Run ids starting with `prefix`, newest first: lets a caller explain an ambiguous prefix. */
  findRunIds(prefix: string, limit = 10): string[] {
    if (prefix === '') return [];
    const rows = this.stmt(
      'SELECT run_id FROM runs WHERE substr(run_id, 1, length(@prefix)) = @prefix ORDER BY seq DESC LIMIT @limit',
    ).all({ prefix, limit: limitValue(limit) }) as Pick<RunRow, 'run_id'>[];
    return rows.map((r) => r.run_id);
  }

  /** Records, before a change is made, that these handlers must run because of it. */
  markPending(handlerIds: readonly string[], cause: string): void {
    if (handlerIds.length === 0) return;
    const insert = this.stmt(
      'INSERT INTO pending_handlers (resource_id, cause, since) VALUES (?, ?, ?) ON CONFLICT (resource_id) DO NOTHING',
    );
    const at = new Date().toISOString();
    this.db.transaction(() => {
      for (const id of handlerIds) insert.run(id, clip(cause), at);
    })();
  }

  clearPending(handlerId: string): void {
    this.stmt('DELETE FROM pending_handlers WHERE resource_id = ?').run(handlerId);
  }

  /** Handler id → what made it due. */
  pendingHandlers(): Map<string, string> {
    const rows = this.stmt('SELECT resource_id, cause FROM pending_handlers').all() as Array<{
      resource_id: string;
      cause: string;
    }>;
    return new Map(rows.map((r) => [r.resource_id, r.cause]));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private newestRun(): RunRow | undefined {
    return this.stmt('SELECT * FROM runs ORDER BY seq DESC LIMIT 1').get() as RunRow | undefined;
  }

  private runByIdOrPrefix(ref: string): RunRow | undefined {
    const exact = this.stmt('SELECT * FROM runs WHERE run_id = ?').get(ref) as RunRow | undefined;
    if (exact) return exact;
    const ids = this.findRunIds(ref, 2);
    if (ids.length !== 1) return undefined;
    return this.stmt('SELECT * FROM runs WHERE run_id = ?').get(ids[0]) as RunRow | undefined;
  }

  /** False when another process reconciled the run first. */
  private markCrashed(runId: string, pid: number): boolean {
    return this.db
      .transaction(() => {
        const info = this.stmt(
          `UPDATE runs SET outcome = 'crashed' WHERE run_id = ? AND outcome = 'running'`,
        ).run(runId);
        if (info.changes === 0) return false;
        // ended_at stays empty: nobody knows when the process died.
        this.closeRunningActions(
          runId,
          'crashed',
          `process ${pid} exited before this action recorded an outcome`,
          null,
        );
        return true;
      })
      .immediate();
  }

  private closeRunningActions(
    runId: string,
    outcome: ActionState,
    error: string,
    endedAt: string | null,
  ): void {
    this.stmt(
      `UPDATE actions SET outcome = ?, error = ?, ended_at = ? WHERE run_id = ? AND outcome = 'running'`,
    ).run(outcome, error, endedAt, runId);
  }
}

/** Creates the parent directory (0700) and the file (0600) ourselves: SQLite would honour the umask only. */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function configure(db: Database.Database): void {
  db.pragma('busy_timeout = 5000');
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`SQLite refused WAL mode (got ${String(mode)})`);
  // NORMAL in WAL mode: a commit has reached the operating system (write(2)) before the mutation it announces
  // starts, so a killed process loses nothing; only a power cut can lose the newest entries. FULL would fsync
  // every entry and cost several milliseconds per action on the engine's single thread.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
}

function schemaVersion(db: Database.Database): number {
  const table = db
    .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`)
    .get();
  if (!table) return 0;
  const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

/** Idempotent and safe against a concurrent opener: the version is read again under the write lock. */
function migrate(db: Database.Database): void {
  const seen = schemaVersion(db);
  if (seen > SCHEMA_VERSION) {
    throw new Error(
      `its schema version ${seen} is newer than this phoenix understands (${SCHEMA_VERSION}); upgrade phoenix`,
    );
  }
  if (seen === SCHEMA_VERSION) return;
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    for (let version = schemaVersion(db) + 1; version <= SCHEMA_VERSION; version++)
      db.exec(MIGRATIONS[version - 1]!);
    db.exec('DELETE FROM schema_version');
    db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION);
  }).immediate();
}

/** `20261126T021503Z-1a2b`: sorts by start time, and a prefix of it is easy to type. */
function newRunId(startedAt: string): string {
  const stamp = startedAt.slice(0, 19).replace(/[-:]/g, '') + 'Z';
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

function isoTime(value: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new Error(`journal: startedAt is not a time: ${JSON.stringify(value)}`);
  return date.toISOString();
}

export function clip(text: string, max = MAX_TEXT_CHARS): string {
  if (text.length <= max) return text;
  const marker = `… [truncated from ${text.length} characters]`;
  let kept = text.slice(0, max - marker.length);
  // Never leave half a surrogate pair behind.
  if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  return kept + marker;
}

function wholeMs(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0)
    throw new Error(`journal: durationMs must be a non-negative number, got ${ms}`);
  return Math.round(ms);
}

function limitValue(limit: number | undefined): number {
  if (limit === undefined) return -1; // SQLite: no limit
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new Error(`journal: limit must be a positive integer, got ${limit}`);
  return limit;
}

function countValues(c: Counts): [number, number, number, number] {
  return [c.ok, c.unchanged, c.failed, c.skipped];
}

function sqliteCode(error: unknown): string | undefined {
  return error instanceof Database.SqliteError ? error.code : undefined;
}

function runFromRow(row: RunRow): RunRecord {
  const run: RunRecord = {
    runId: row.run_id,
    command: row.command,
    args: JSON.parse(row.args) as string[],
    configDir: row.config_dir,
    pid: row.pid,
    dryRun: row.dry_run === 1,
    startedAt: row.started_at,
    outcome: row.outcome,
  };
  if (row.ended_at !== null) run.endedAt = row.ended_at;
  if (row.count_ok !== null) {
    run.counts = {
      ok: row.count_ok,
      unchanged: row.count_unchanged ?? 0,
      failed: row.count_failed ?? 0,
      skipped: row.count_skipped ?? 0,
    };
  }
  if (row.duration_ms !== null) run.durationMs = row.duration_ms;
  return run;
}

function actionFromRow(row: ActionRow): ActionRecord {
  const action: ActionRecord = {
    actionId: row.action_id,
    runId: row.run_id,
    resourceId: row.resource_id,
    action: row.action,
    reason: row.reason,
    startedAt: row.started_at,
    outcome: row.outcome,
    attempt: row.attempt,
  };
  if (row.ended_at !== null) action.endedAt = row.ended_at;
  if (row.error !== null) action.error = row.error;
  if (row.duration_ms !== null) action.durationMs = row.duration_ms;
  return action;
}
