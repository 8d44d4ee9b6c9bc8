import { resolveStateDir } from '../../engine/state-dir.js';
import type { DriverChoice } from '../../engine/session.js';

/** Options every command that plans or acts shares. */
export interface EngineCliOptions {
  configDir: string;
  stateDir?: string;
  labDir?: string;
  driver?: DriverChoice;
  json?: boolean;
  verbose?: boolean;
  concurrency?: string;
  perNodeLimit?: string;
  dryRun?: boolean;
  memoryLatency?: string;
}

export interface EngineSettings {
  configDir: string;
  stateDir: string;
  labDir?: string;
  driver?: DriverChoice;
  json: boolean;
  verbose: boolean;
  concurrency: number;
  perNodeLimit: number;
  dryRun: boolean;
  memoryLatencyMs?: number;
}

export class UsageError extends Error {}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new UsageError(`${name} must be a whole number from 1 to 1024, got "${value}"`);
  return n;
}

export function engineSettings(o: EngineCliOptions): EngineSettings {
  return {
    configDir: o.configDir,
    stateDir: resolveStateDir(o.stateDir),
    labDir: o.labDir,
    driver: o.driver,
    json: Boolean(o.json),
    verbose: Boolean(o.verbose),
    concurrency: positive('--concurrency', o.concurrency, 16),
    perNodeLimit: positive('--per-node-limit', o.perNodeLimit, 4),
    dryRun: Boolean(o.dryRun),
    memoryLatencyMs:
      o.memoryLatency === undefined ? undefined : positive('--memory-latency', o.memoryLatency, 0),
  };
}
