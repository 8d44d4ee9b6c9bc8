/** What the renderers remember about a run: progress, per-outcome counts and the nodes running right now. */
import type { Counts, EngineEvent } from '../../engine/events.js';
import type { Action } from '../../resources/types.js';
import { summaryLine, type Line } from './format.js';

export interface RunningNode {
  id: string;
  action: Action;
  /** now() when node-start arrived. */
  since: number;
  wait?: { awaited: string; deadlineMs: number };
  retry?: { attempt: number; delayMs: number; error: string };
}

export class RunState {
  command = '';
  dryRun = false;
  total: number | undefined;
  phase: string | undefined;
  startedAt: number | undefined;
  done = 0;
  readonly counts: Counts = { ok: 0, unchanged: 0, failed: 0, skipped: 0 };
  readonly running = new Map<string, RunningNode>();
  interrupted: string | undefined;
  runStarted = false;
  ended = false;

  constructor(private readonly now: () => number) {}

  apply(e: EngineEvent): void {
    const t = this.now();
    this.startedAt ??= t;
    switch (e.type) {
      case 'run-start':
        this.command = e.command;
        this.dryRun = e.dryRun;
        this.total = Number.isFinite(e.total) ? e.total : undefined;
        this.startedAt = t;
        this.runStarted = true;
        break;
      case 'phase':
        this.phase = e.phase;
        break;
      case 'node-start':
        this.running.set(e.id, { id: e.id, action: e.action, since: t });
        break;
      case 'node-retry': {
        const n = this.running.get(e.id);
        if (n) {
          n.retry = { attempt: e.attempt, delayMs: e.delayMs, error: e.error };
          delete n.wait;
        }
        break;
      }
      case 'node-wait': {
        const n = this.running.get(e.id);
        if (n) {
          n.wait = { awaited: e.awaited, deadlineMs: e.deadlineMs };
          delete n.retry;
        }
        break;
      }
      case 'node-end':
        this.running.delete(e.id);
        this.done += 1;
        if (e.outcome in this.counts) this.counts[e.outcome] += 1;
        break;
      case 'interrupt':
        this.interrupted = e.signal;
        break;
      case 'run-end':
        this.ended = true;
        this.running.clear();
        break;
    }
  }

  elapsed(): number {
    return this.startedAt === undefined ? 0 : this.now() - this.startedAt;
  }

  /** The summary when close() comes without a run-end (the engine threw, or the caller gave up). */
  incompleteSummary(): Line {
    return summaryLine(this.command, this.counts, this.elapsed(), { dryRun: this.dryRun, incomplete: true });
  }
}
