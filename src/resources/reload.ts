import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestRef } from '../model/inventory.js';
import { isRunning } from './config-file.js';
import { decideTrigger, readDebt, type HandlerDebt } from './handlers.js';
import { noop } from './types.js';
import type { Context, Handler } from './types.js';

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

export const reloadHandler: Handler<HandlerDebt> = {
  kind: 'reload',
  read: async (ctx, node) => readDebt(ctx, node),
  decide: (node, debt, upstream) =>
    decideTrigger(node, upstream.changed, `reload ${target(node).service}`, debt),
  apply: (ctx, node) => systemctl(ctx, target(node).guest, 'reload', target(node).service),
  verify: (ctx, node) => systemctl(ctx, target(node).guest, 'is-active', target(node).service),
};
