import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestRef } from '../model/inventory.js';
import type { FileSpec } from '../model/inventory.js';
import { isRunning, run } from './config-file.js';
import { discardPrevious, restorePrevious } from './install.js';
import { proveServed } from './served-proof.js';
import { shouldRun } from './guest.js';
import { decideTrigger, readDebt, type HandlerDebt } from './handlers.js';
import { noop, type Context, type Decision, type Handler } from './types.js';

function target(node: ResourceNode): { guest: GuestRef; service: string } {
  if (node.spec.kind !== 'reload') throw new Error(`${node.id} is not a reload`);
  return node.spec;
}

async function systemctl(ctx: Context, guest: GuestRef, verb: string, service: string): Promise<void> {
  const r = await ctx.drivers.hypervisor.exec(guest, ['systemctl', verb, service]);
  if (r.exitCode !== 0) {
    throw new DriverError(
      `systemctl ${verb} ${service} in ${guest} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`,
    );
  }
}

interface ReloadObservation extends HandlerDebt {
  readonly running: boolean;
  /** Whether sync itself starts the guest (declared to start at boot). */
  readonly startsWithSync: boolean;
}

export const reloadHandler: Handler<ReloadObservation> = {
  kind: 'reload',
  async read(ctx, node) {
    const { guest } = target(node);
    const declared = guest === 'host' ? undefined : ctx.inventory.guests.get(guest);
    return {
      ...readDebt(ctx, node),
      running: await isRunning(ctx, guest),
      startsWithSync: guest === 'host' || (declared !== undefined && shouldRun(declared)),
    };
  },
  decide(node, seen, upstream) {
    const { guest, service } = target(node);
    const d = decideTrigger(node, upstream.changed, `reload ${service}`, seen);
    // A guest that is not running has no service to reload; it reads the new files when it starts.
    const startsNow = seen.startsWithSync && upstream.changed.includes(`guest/${guest}`);
    if (d.action !== 'noop' && !seen.running && !startsNow) {
      return noop(`${guest} is not running; ${service} reads the new files when it starts`);
    }
    return d;
  },
  async apply(ctx, node, decision) {
    const { guest, service } = target(node);
    if (service !== 'nginx') return systemctl(ctx, guest, 'reload', service);
    const changed = changedFiles(ctx, decision);
    try {
      await run(ctx, guest, ['nginx', '-t']);
    } catch (e) {
      // nginx was not told anything: it still serves what it loaded; only the files on disk go back.
      throw await rollBack(ctx, guest, changed, e, false);
    }
    try {
      await systemctl(ctx, guest, 'reload', service);
      await proveServed(ctx, guest);
    } catch (e) {
      throw await rollBack(ctx, guest, changed, e, true);
    }
    await discardPrevious(ctx, changed);
  },
  async verify(ctx, node) {
    const { guest, service } = target(node);
    await systemctl(ctx, guest, 'is-active', service);
    if (service === 'nginx') await proveServed(ctx, guest);
  },
};

/** The installed files whose change in this run fired the handler: the only ones it may put back. */
function changedFiles(ctx: Context, decision: Decision): FileSpec[] {
  return (decision.changes ?? [])
    .map((c) => ctx.graph.nodes.get(String(c.to))?.spec)
    .filter((s): s is Extract<ResourceNode['spec'], { kind: 'file' }> => s?.kind === 'file')
    .map((s) => s.file);
}

/**
 * nginx did not take the new certificates (its config test failed, or it kept serving the old ones): put
 * the previous files back and reload, so it serves the old valid certificate and the files on disk say
 * so. The store keeps the new certificate; the next run installs it again once the cause is fixed.
 */
async function rollBack(
  ctx: Context,
  guest: GuestRef,
  files: FileSpec[],
  cause: unknown,
  reloaded: boolean,
): Promise<Error> {
  const why = cause instanceof Error ? cause.message : String(cause);
  const restored = await restorePrevious(ctx, files);
  if (restored.length === 0) return new DriverError(`${why}; there were no previous files to put back`);
  if (!reloaded)
    return new DriverError(
      `${why}; nginx was not reloaded and serves the previous certificate; put back the previous ${restored.join(', ')}`,
    );
  try {
    await systemctl(ctx, guest, 'reload', 'nginx');
  } catch (e) {
    return new DriverError(
      `${why}; put back ${restored.length} previous file(s), but the reload after that failed too: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return new DriverError(
    `${why}; put back the previous ${restored.join(', ')} and reloaded: nginx serves the previous certificate`,
  );
}
