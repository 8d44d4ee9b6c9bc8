import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceeded } from '../../errors.js';
import type { PveApi } from './client.js';
import { PveProtocolError, TaskFailed } from './errors.js';
import { seg } from './form.js';
import { parseUpid } from './upid.js';
import type { Upid } from './upid.js';

/**
 * Waiting for Proxmox tasks. An asynchronous call answers with a UPID; the task is polled with
 * `GET /nodes/{node}/tasks/{upid}/status` (on the node the UPID names) until `status` is "stopped", then
 * its `exitstatus` decides: "OK" is success; so is "WARNINGS: n" (Proxmox's own `upid_status_is_error`
 * treats it as success — the work was done; the count is returned). Anything else is the error message
 * and fails with the last lines of `GET /nodes/{node}/tasks/{upid}/log` in the error. Every wait has a
 * deadline and honours an AbortSignal; polling backs off from `pollMs` to `maxPollMs`.
 */

export interface TaskStatus {
  readonly upid: string;
  readonly node: string;
  readonly status: 'running' | 'stopped';
  /** Set once stopped: "OK", "WARNINGS: 2", or the error message. */
  readonly exitstatus?: string;
  readonly type: string;
  readonly id: string;
  readonly user: string;
}

export interface TaskResult {
  readonly upid: Upid;
  readonly exitstatus: string;
  /** The n of "WARNINGS: n"; 0 for "OK". */
  readonly warnings: number;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
  /** Deadline of the whole wait; default 10 minutes. */
  readonly timeoutMs?: number;
  /** First poll interval; default 200 ms, growing ×1.5 up to `maxPollMs` (default 2 s). */
  readonly pollMs?: number;
  readonly maxPollMs?: number;
  /** Log lines put in a failure; default 20. */
  readonly logTailLines?: number;
}

/** `GET .../tasks/{upid}/status` answer → TaskStatus (pure). */
export function parseTaskStatus(data: unknown): TaskStatus {
  if (typeof data !== 'object' || data === null) throw new PveProtocolError('task status is not an object');
  const d = data as Record<string, unknown>;
  const status = d.status;
  if (status !== 'running' && status !== 'stopped') {
    throw new PveProtocolError(`task status has status ${JSON.stringify(status)}, not running|stopped`);
  }
  return {
    upid: String(d.upid ?? ''),
    node: String(d.node ?? ''),
    status,
    ...(typeof d.exitstatus === 'string' ? { exitstatus: d.exitstatus } : {}),
    type: String(d.type ?? ''),
    id: String(d.id ?? ''),
    user: String(d.user ?? ''),
  };
}

/** "OK" → 0 warnings, "WARNINGS: 3" → 3, anything else (an error) → undefined (pure). */
export function exitStatusWarnings(exitstatus: string | undefined): number | undefined {
  if (exitstatus === 'OK') return 0;
  const m = /^WARNINGS: (\d+)$/.exec(exitstatus ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `GET .../tasks/{upid}/log` answer (`[{n, t}]`) → lines in order (pure). */
export function parseTaskLog(data: unknown): string[] {
  if (!Array.isArray(data)) throw new PveProtocolError('task log is not a list');
  return data
    .filter(
      (l): l is { n: number; t: string } => typeof l === 'object' && l !== null && typeof l.t === 'string',
    )
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((l) => l.t);
}

function taskPath(u: Upid, leaf: 'status' | 'log'): string {
  return `/nodes/${seg(u.node)}/tasks/${seg(u.upid)}/${leaf}`;
}

export async function getTaskStatus(client: PveApi, upid: string, signal?: AbortSignal): Promise<TaskStatus> {
  const u = parseUpid(upid);
  return parseTaskStatus(await client.get(taskPath(u, 'status'), undefined, signal ? { signal } : {}));
}

/** The last `lines` lines of a task's log (two reads: the first tells the total). */
export async function getTaskLogTail(
  client: PveApi,
  upid: string,
  lines = 20,
  signal?: AbortSignal,
): Promise<string[]> {
  const u = parseUpid(upid);
  const opts = signal ? { signal } : {};
  const first = await client.request('GET', taskPath(u, 'log'), { start: 0, limit: lines }, opts);
  let all = parseTaskLog(first.data);
  if (first.total !== undefined && first.total > lines) {
    const rest = await client.request(
      'GET',
      taskPath(u, 'log'),
      { start: first.total - lines, limit: lines },
      opts,
    );
    all = parseTaskLog(rest.data);
  }
  return all.slice(-lines);
}

/** Polls until the task stops; resolves on "OK"/"WARNINGS", throws TaskFailed (with log tail) otherwise. */
export async function waitForTask(client: PveApi, upid: string, opts: WaitOptions = {}): Promise<TaskResult> {
  const u = parseUpid(upid);
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  let interval = opts.pollMs ?? 200;
  const awaited = `task ${u.type}${u.id ? ` ${u.id}` : ''} on ${u.node} (${upid})`;
  for (;;) {
    opts.signal?.throwIfAborted();
    const status = await getTaskStatus(client, upid, opts.signal);
    if (status.status === 'stopped') {
      const exitstatus = status.exitstatus ?? '(no exit status)';
      const warnings = exitStatusWarnings(status.exitstatus);
      if (warnings !== undefined) return { upid: u, exitstatus, warnings };
      let tail: string[];
      try {
        tail = await getTaskLogTail(client, upid, opts.logTailLines ?? 20, opts.signal);
      } catch (err) {
        tail = [`(task log unavailable: ${err instanceof Error ? err.message : String(err)})`];
      }
      throw new TaskFailed(upid, exitstatus, tail);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new DeadlineExceeded(awaited, timeoutMs);
    await sleep(Math.min(interval, left), undefined, opts.signal ? { signal: opts.signal } : undefined);
    interval = Math.min(opts.maxPollMs ?? 2000, Math.ceil(interval * 1.5));
  }
}
