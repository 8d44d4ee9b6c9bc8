import { setTimeout as sleep } from 'node:timers/promises';
import { servedEndpoints, type ServedEndpoint } from '../certs/served.js';
import { parseCertificate } from '../certs/x509.js';
import { DriverError } from '../drivers/errors.js';
import type { GuestRef } from '../model/inventory.js';
import type { Context } from './types.js';

/**
 * A certificate counts as done only when the live service presents it. nginx may accept a reload and keep
 * its old certificate (a HUP with a pair it cannot load), so after a reload Phoenix polls each TLS server
 * of the guest until it serves the serial Phoenix installed, within a deadline.
 */

/** Generous for a reload (milliseconds on these machines) yet short enough to roll back within a run. */
export const SERVED_DEADLINE_MS = 20_000;
const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 1_000;
/** Consecutive rounds that must all serve the installed serial, CONFIRM_POLL_MS apart. */
const CONFIRMATIONS = 3;
const CONFIRM_POLL_MS = 100;

interface Expectation extends ServedEndpoint {
  readonly serial: string;
}

async function expectations(ctx: Context, guest: GuestRef): Promise<Expectation[]> {
  const out: Expectation[] = [];
  for (const e of servedEndpoints(ctx.inventory)) {
    if (e.guest !== guest) continue;
    const stored = await ctx.certs.load(e.certificate);
    if (stored) out.push({ ...e, serial: (await parseCertificate(stored.certPem)).serial });
  }
  return out;
}

/** What each endpoint serves now that is not what it should: empty when all serve the installed serial. */
async function mismatches(ctx: Context, wanted: readonly Expectation[]): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    wanted.map(async (e) => {
      try {
        const got = await ctx.drivers.tls.served({ ...e, signal: ctx.signal });
        if (got.serial !== e.serial)
          out.push(`${e.serverName}:${e.port} serves serial ${got.serial}, installed ${e.serial}`);
      } catch (err) {
        out.push(err instanceof Error ? err.message : String(err));
      }
    }),
  );
  return out.sort();
}

export async function proveServed(ctx: Context, guest: GuestRef): Promise<void> {
  const deadlineMs = ctx.servedDeadlineMs ?? SERVED_DEADLINE_MS;
  const wanted = await expectations(ctx, guest);
  if (wanted.length === 0) return;
  const until = Date.now() + deadlineMs;
  ctx.waiting(`${wanted.length} TLS server(s) in ${guest} to serve the installed certificates`, deadlineMs);
  let wait = FIRST_POLL_MS;
  let streak = 0;
  for (;;) {
    const wrong = await mismatches(ctx, wanted);
    // After a reload, nginx's old workers answer until they drain: one good handshake is not yet proof.
    streak = wrong.length === 0 ? streak + 1 : 0;
    if (streak >= CONFIRMATIONS) return;
    if (Date.now() + wait > until || ctx.signal.aborted) {
      const deadline = deadlineMs < 1000 ? `${deadlineMs} ms` : `${Math.round(deadlineMs / 1000)} s`;
      if (wrong.length === 0) return; // served every time it was asked, just not yet often enough
      throw new DriverError(`not served within ${deadline} after the reload: ${wrong.join('; ')}`);
    }
    await sleep(streak > 0 ? CONFIRM_POLL_MS : wait, undefined, { signal: ctx.signal }).catch(
      () => undefined,
    );
    if (streak === 0) wait = Math.min(wait * 2, MAX_POLL_MS);
  }
}
