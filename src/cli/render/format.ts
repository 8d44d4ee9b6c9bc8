/** Formatting shared by every render mode: durations, the per-event line, the interrupt notice, the summary. */
import type { Counts, EngineEvent, RunOutcome } from '../../engine/events.js';
import { plural } from '../diagnostics.js';
import { sanitize } from './text.js';

/** "850 ms", "1.2 s", "60 s", "2 min 03 s", "1 h 05 min". Negative or non-finite input reads as 0. */
export function formatDuration(ms: number): string {
  const v = Number.isFinite(ms) && ms > 0 ? ms : 0;
  if (Math.round(v) < 1000) return `${Math.round(v)} ms`;
  const tenths = Math.round(v / 100);
  if (tenths < 100) return `${(tenths / 10).toFixed(1)} s`;
  const secs = Math.round(v / 1000);
  if (secs < 120) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${String(secs % 60).padStart(2, '0')} s`;
  const mins = Math.round(secs / 60);
  return `${Math.floor(mins / 60)} h ${String(mins % 60).padStart(2, '0')} min`;
}

export type Tone = 'plain' | 'bold' | 'dim' | 'green' | 'yellow' | 'red';

/** A line of output: an outcome word in a fixed-width column (may be empty), then free text. */
export interface Line {
  word: string;
  tone: Tone;
  text: string;
}

export const WORD_COLUMN = 8;

export function lineText(l: Line): string {
  return l.word === '' ? l.text : `${l.word.padEnd(WORD_COLUMN - 1)} ${l.text}`;
}

const ZERO: Counts = { ok: 0, unchanged: 0, failed: 0, skipped: 0 };

export function summaryLine(
  command: string,
  counts: Partial<Counts> | undefined,
  durationMs: number,
  opts: { dryRun?: boolean; outcome?: RunOutcome; incomplete?: boolean } = {},
): Line {
  const c = { ...ZERO, ...counts };
  const n = (k: keyof Counts) => (Number.isFinite(c[k]) ? c[k] : 0);
  const tail = opts.outcome === 'interrupted' ? ' (interrupted)' : opts.incomplete ? ' (incomplete)' : '';
  const text =
    `${sanitize(command) || 'run'}${opts.dryRun ? ' (dry run)' : ''}: ${n('ok')} ok, ${n('unchanged')} unchanged, ` +
    `${n('failed')} failed, ${n('skipped')} skipped in ${formatDuration(durationMs)}${tail}`;
  const tone: Tone =
    n('failed') > 0 || opts.outcome === 'failed'
      ? 'red'
      : opts.outcome === 'interrupted' || opts.incomplete
        ? 'yellow'
        : 'green';
  return { word: '', tone, text };
}

export function interruptMessage(e: Extract<EngineEvent, { type: 'interrupt' }>): string {
  const n = Array.isArray(e.running) ? e.running.length : 0;
  const waiting = n === 0 ? 'no actions are running' : `waiting for ${plural(n, 'running action')} to finish`;
  return `interrupted (${sanitize(e.signal) || 'signal'}): ${waiting}; no new actions start`;
}

const withReason = (s: string, reason: unknown) => {
  const r = sanitize(reason);
  return r === '' ? s : `${s}  ${r}`;
};

/**
 * The line for an event, or undefined when the event is not shown on its own (unchanged nodes and driver calls
 * unless verbose). `command` and `dryRun` come from the run-start, for the summary.
 */
export function eventLine(
  e: EngineEvent,
  run: { verbose: boolean; command: string; dryRun: boolean },
): Line | undefined {
  switch (e.type) {
    case 'run-start':
      return {
        word: 'run',
        tone: 'bold',
        text: `${sanitize(e.command)} (${plural(Number(e.total) || 0, 'resource')}${e.dryRun ? ', dry run' : ''}, run ${sanitize(e.runId)})`,
      };
    case 'phase':
      return { word: 'phase', tone: 'dim', text: sanitize(e.phase) };
    case 'node-start':
      return {
        word: 'start',
        tone: 'plain',
        text: withReason(`${sanitize(e.action).padEnd(7)} ${sanitize(e.id)}`, e.reason),
      };
    case 'node-retry':
      return {
        word: 'retry',
        tone: 'yellow',
        text: `${sanitize(e.id)} attempt ${sanitize(e.attempt)} in ${formatDuration(e.delayMs)}: ${sanitize(e.error)}`,
      };
    case 'node-wait':
      return {
        word: 'wait',
        tone: 'dim',
        text: `${sanitize(e.id)} for "${sanitize(e.awaited)}" (deadline ${formatDuration(e.deadlineMs)})`,
      };
    case 'node-end':
      switch (e.outcome) {
        case 'ok':
          return { word: 'ok', tone: 'green', text: `${sanitize(e.id)} (${formatDuration(e.durationMs)})` };
        case 'failed':
          return { word: 'failed', tone: 'red', text: withReason(sanitize(e.id), e.error || e.reason) };
        case 'skipped': {
          const r = sanitize(e.reason);
          return {
            word: 'skipped',
            tone: 'yellow',
            text: r === '' ? sanitize(e.id) : `${sanitize(e.id)}  (${r})`,
          };
        }
        default:
          return run.verbose
            ? { word: sanitize(e.outcome) || 'done', tone: 'dim', text: withReason(sanitize(e.id), e.reason) }
            : undefined;
      }
    case 'driver-call': {
      if (!run.verbose) return undefined;
      const detail = sanitize(e.detail);
      const error = e.error !== undefined ? `: failed: ${sanitize(e.error)}` : '';
      return {
        word: '  driver',
        tone: e.error !== undefined ? 'red' : 'dim',
        text: `${sanitize(e.driver)}.${sanitize(e.method)}${detail ? ` ${detail}` : ''} ${formatDuration(e.durationMs)}${error}`,
      };
    }
    case 'interrupt':
      return { word: '', tone: 'yellow', text: interruptMessage(e) };
    case 'run-end':
      return summaryLine(run.command, e.counts, e.durationMs, { dryRun: run.dryRun, outcome: e.outcome });
    default:
      return undefined;
  }
}
