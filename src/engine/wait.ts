import { DeadlineExceeded } from '../drivers/errors.js';
import type { Context } from '../resources/types.js';
import { sleep } from './concurrency.js';

/**
 * Polls until `done` holds, with backoff from 50 ms to 2 s, up to a deadline. Reports what it waits for, and
 * the error names it: every wait in Phoenix is bounded and explained.
 */
export async function waitFor(
  ctx: Pick<Context, 'signal' | 'waiting'>,
  awaited: string,
  deadlineMs: number,
  done: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let delay = 50;
  let reported = false;
  for (;;) {
    if (await done()) return;
    if (Date.now() >= deadline) throw new DeadlineExceeded(awaited, deadlineMs);
    if (!reported) {
      ctx.waiting(awaited, deadlineMs);
      reported = true;
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), ctx.signal);
    delay = Math.min(delay * 2, 2000);
  }
}
