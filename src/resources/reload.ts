import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestRef } from '../model/inventory.js';
import { isRunning } from './config-file.js';
import { shouldRun } from './guest.js';
import { decideTrigger, readDebt, type HandlerDebt } from './handlers.js';
import { noop, type Context, type Handler } from './types.js';

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
  apply: (ctx, node) => systemctl(ctx, target(node).guest, 'reload', target(node).service),
  verify: (ctx, node) => systemctl(ctx, target(node).guest, 'is-active', target(node).service),
};
