import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../errors.js';

/** Latency, injected faults and call accounting shared by the in-memory drivers. */

export interface FaultRule {
  /** The driver method name, e.g. "createGuest" (method names do not overlap between the drivers). */
  readonly method: string;
  /** Narrows the rule to some calls; receives the call's arguments. */
  readonly match?: (args: unknown[]) => boolean;
  /** How many matching calls fail; default 1. Infinity for a permanent fault. */
  readonly times?: number;
  readonly error: { readonly message: string; readonly retryable?: boolean };
}

export interface MemoryDriverOptions {
  /** Sleep before every call (the benchmark uses 50 ms); 0 or undefined never sleeps. */
  readonly latencyMs?: number;
  readonly faults?: FaultRule[];
  /** Observes every call before it runs (tests record order; the benchmark traces). */
  readonly onCall?: (method: string, args: unknown[]) => void;
}

export class CallRecorder {
  /** method → number of calls, including refused and failed ones. */
  readonly calls = new Map<string, number>();
  /** Calls of mutating methods; a read-only guard in front keeps this at 0. */
  mutations = 0;
  /** Mutable: tests may add rules after the drivers were created. */
  readonly faults: FaultRule[];
  private readonly used = new Map<FaultRule, number>();
  private readonly mutating: ReadonlySet<string>;

  constructor(
    mutating: readonly string[],
    private readonly options: MemoryDriverOptions = {},
  ) {
    this.mutating = new Set(mutating);
    this.faults = options.faults ?? [];
  }

  /** Accounts for a call, waits the latency, then throws the first matching fault that has times left. */
  async enter(method: string, args: unknown[]): Promise<void> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    if (this.mutating.has(method)) this.mutations += 1;
    this.options.onCall?.(method, args);
    const latency = this.options.latencyMs ?? 0;
    if (latency > 0) await sleep(latency);
    for (const rule of this.faults) {
      if (rule.method !== method) continue;
      const used = this.used.get(rule) ?? 0;
      if (used >= (rule.times ?? 1)) continue;
      if (rule.match && !rule.match(args)) continue;
      this.used.set(rule, used + 1);
      // Indistinguishable from a real failure: same class, same default code.
      throw new DriverError(rule.error.message, rule.error.retryable ?? false);
    }
  }
}
