import type { Action } from '../resources/types.js';

/**
 * What the engine reports while it works. Renderers (TTY, plain, JSON lines) and the journal consume the
 * same stream, so what a user sees and what is recorded cannot disagree. No event ever carries a secret.
 */

export type NodeOutcome = 'ok' | 'unchanged' | 'failed' | 'skipped';
export type RunOutcome = 'ok' | 'failed' | 'interrupted';

export interface Counts {
  ok: number;
  unchanged: number;
  failed: number;
  skipped: number;
}

export type EngineEvent =
  | { type: 'run-start'; runId: string; command: string; dryRun: boolean; total: number; at: string }
  | { type: 'phase'; phase: 'observe' | 'plan' | 'apply' | 'verify'; at: string }
  | { type: 'node-start'; id: string; action: Action; reason: string; at: string }
  | { type: 'node-retry'; id: string; attempt: number; delayMs: number; error: string; at: string }
  | { type: 'node-wait'; id: string; awaited: string; deadlineMs: number; at: string }
  | {
      type: 'node-end';
      id: string;
      action: Action;
      outcome: NodeOutcome;
      reason: string;
      error?: string;
      durationMs: number;
      at: string;
    }
  | {
      type: 'driver-call';
      id?: string;
      driver: string;
      method: string;
      detail: string;
      durationMs: number;
      error?: string;
      at: string;
    }
  | { type: 'interrupt'; signal: string; running: string[]; at: string }
  | { type: 'run-end'; runId: string; outcome: RunOutcome; counts: Counts; durationMs: number; at: string };

export type EventSink = (e: EngineEvent) => void;

export function now(): string {
  return new Date().toISOString();
}
