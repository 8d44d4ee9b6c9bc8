import { DriverError } from '../drivers/errors.js';
import type { ResourceKind, ResourceNode } from '../graph/types.js';
import type { GuestRef } from '../model/inventory.js';
import {
  decideFile,
  observeFile,
  verifyManagedFile,
  writeManagedFile,
  type FileObservation,
  type ManagedFile,
} from './file.js';
import { readDebt, type HandlerDebt } from './handlers.js';
import type { Context, Handler } from './types.js';

/**
 * A generated configuration file (dnsmasq records, firewall rules, the gateway and mesh config, a trust
 * anchor): content is a pure function of the inventory, checked by the program that reads it, written only
 * when it differs, then the program is told.
 */
export interface ConfigFileSpec {
  readonly kind: ResourceKind;
  file(ctx: Context, node: ResourceNode): ManagedFile;
  /**
   * The program's own test of the installed file (`nginx -t`). When it fails the previous file is put back,
   * so the service is never left with a configuration it cannot load.
   */
  check?(ctx: Context, node: ResourceNode): Promise<void>;
  /** Run after installing: reload the program that reads the file. */
  activate?(ctx: Context, node: ResourceNode): Promise<void>;
  /**
   * Proves the running program uses the file (dnsmasq answers every name, the gateway serves each
   * certificate). Runs in verify, after the file itself checked out, and only when the target runs.
   */
  verifyLive?(ctx: Context, node: ResourceNode): Promise<void>;
}

export function configFileHandler(spec: ConfigFileSpec): Handler<FileObservation & HandlerDebt> {
  return {
    kind: spec.kind,
    resumable: spec.activate !== undefined,
    read: async (ctx, node) => ({
      ...(await observeFile(ctx, spec.file(ctx, node))),
      ...readDebt(ctx, node),
    }),
    decide(node, seen) {
      const d = decideFile(node.id, seen, []);
      if (d.action === 'noop' && seen.pending)
        return {
          action: 'update',
          reason: 'an earlier run wrote it but ended before the service was reloaded',
        };
      return d;
    },
    async apply(ctx, node) {
      const file = spec.file(ctx, node);
      const previous = spec.check ? await ctx.drivers.hypervisor.readFile(file.target, file.path) : undefined;
      await writeManagedFile(ctx, file);
      // A stopped guest runs nothing to test or reload: its service reads the file when it starts.
      if (!(await isRunning(ctx, file.target))) return;
      try {
        await spec.check?.(ctx, node);
      } catch (e) {
        if (previous)
          await ctx.drivers.hypervisor.writeFile(file.target, file.path, previous.content, previous.attrs);
        else await ctx.drivers.hypervisor.removeFile(file.target, file.path);
        throw e;
      }
      await spec.activate?.(ctx, node);
    },
    async verify(ctx, node) {
      const file = spec.file(ctx, node);
      await verifyManagedFile(ctx, file);
      if (spec.verifyLive && (await isRunning(ctx, file.target))) await spec.verifyLive(ctx, node);
    },
  };
}

export async function isRunning(ctx: Context, target: GuestRef): Promise<boolean> {
  return target === 'host' || (await ctx.drivers.hypervisor.getGuest(target))?.status === 'running';
}

/** Runs an argv in a guest (or on the host) and fails the node with the program's own words when it fails. */
export async function run(ctx: Context, target: GuestRef, argv: readonly string[]): Promise<void> {
  const r = await ctx.drivers.hypervisor.exec(target, argv);
  if (r.exitCode !== 0) {
    throw new DriverError(
      `${argv.join(' ')} in ${target} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(0, 800)}`,
    );
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
