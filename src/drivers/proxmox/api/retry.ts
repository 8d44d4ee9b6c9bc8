import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../../errors.js';
import type { RetryEvent, RetryPolicy } from './client.js';

/**
 * The one retry policy of both PveApi implementations (HTTPS and pvesh): only errors marked retryable, at
 * most `attempts` tries, exponential backoff bounded by `maxDelayMs`, stopped by the signal.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  enabled: boolean,
  signal: AbortSignal | undefined,
  where: string,
  onRetry: ((e: RetryEvent) => void) | undefined,
  attempt: () => Promise<T>,
): Promise<T> {
  const attempts = enabled ? Math.max(1, policy.attempts ?? 4) : 1;
  for (let n = 1; ; n += 1) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof DriverError) || !err.retryable || n >= attempts || signal?.aborted) throw err;
      const delayMs = Math.min(policy.maxDelayMs ?? 4000, (policy.baseDelayMs ?? 250) * 2 ** (n - 1));
      onRetry?.({ where, attempt: n, delayMs, error: err });
      await sleep(delayMs, undefined, signal ? { signal } : undefined);
    }
  }
}

export function anySignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return AbortSignal.any([a, b]);
}
