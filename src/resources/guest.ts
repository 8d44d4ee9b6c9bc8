import type { GuestObservation, GuestSettings } from '../drivers/hypervisor/types.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { Guest } from '../model/inventory.js';
import type { Change, Context, Decision, Handler } from './types.js';
import { noop } from './types.js';

/** A guest's declared settings, in the driver's comparable form. */
export function desiredSettings(g: Guest): GuestSettings {
  return {
    name: g.name,
    cores: g.resources.cores,
    memoryMb: g.resources.memoryMb,
    diskGb: g.resources.diskGb,
    ip: g.ip !== undefined ? `${g.ip}/${g.prefixLength ?? 32}` : g.config.network_config ? 'dhcp' : undefined,
    gateway: g.gateway,
    mac: g.mac?.toUpperCase(),
    nameservers: g.nameservers.length ? g.nameservers : undefined,
    onBoot: g.boot.onBoot,
    bootOrder: g.boot.order,
    bootDelaySeconds: g.boot.delaySeconds,
    unprivileged: g.kind === 'lxc' ? g.unprivileged : undefined,
  };
}

/** Templates are never started; other guests run when they are declared to start at boot. */
export function shouldRun(g: Guest): boolean {
  return !g.isTemplate && g.boot.onBoot;
}

/** Settings that differ; a field the config leaves unset is not managed. */
export function settingsDiff(want: GuestSettings, have: GuestSettings): Change[] {
  const changes: Change[] = [];
  for (const field of Object.keys(want) as Array<keyof GuestSettings>) {
    const w = want[field];
    if (w === undefined) continue;
    const h = have[field];
    if (JSON.stringify(w) !== JSON.stringify(h)) changes.push({ field, from: h, to: w });
  }
  return changes;
}

const IMMUTABLE: ReadonlySet<string> = new Set(['unprivileged']);

function guestOf(node: ResourceNode): Guest {
  if (node.spec.kind !== 'guest') throw new Error(`${node.id} is not a guest`);
  return node.spec.guest;
}

const createOnly = (node: ResourceNode) => node.spec.kind === 'guest' && node.spec.createOnly === true;

export function decideGuest(g: Guest, observed: GuestObservation | undefined, createOnly = false): Decision {
  const label = `${g.kind === 'lxc' ? 'container' : 'VM'} ${g.id}`;
  if (!observed) {
    return {
      action: 'create',
      reason:
        g.cloneFrom !== undefined
          ? `${label} does not exist; clone it from ${g.cloneFrom}`
          : `${label} does not exist; create it`,
    };
  }
  if (createOnly) return noop(`${label} exists`);
  if (observed.kind !== g.kind) {
    return {
      action: 'replace',
      reason: `${g.id} exists as ${observed.kind === 'lxc' ? 'a container' : 'a VM'} but is declared as ${g.kind === 'lxc' ? 'a container' : 'a VM'}`,
    };
  }
  const changes = settingsDiff(desiredSettings(g), observed.settings);
  const immutable = changes.filter((c) => IMMUTABLE.has(c.field));
  if (immutable.length) {
    return {
      action: 'replace',
      reason: `${immutable.map((c) => c.field).join(', ')} of ${label} cannot change in place`,
      changes,
    };
  }
  const steps: string[] = changes.map((c) => `${c.field} ${fmt(c.from)} → ${fmt(c.to)}`);
  if (g.snapshotName && !observed.snapshots.includes(g.snapshotName))
    steps.push(`take snapshot ${g.snapshotName}`);
  if (g.kind === 'vm' && g.isTemplate && !observed.template) steps.push('convert to template');
  if (shouldRun(g) && observed.status !== 'running') steps.push('start');
  if (!steps.length) return noop(`${label} matches its declaration`);
  return { action: 'update', reason: steps.join('; '), changes };
}

function fmt(v: unknown): string {
  return v === undefined ? 'unset' : Array.isArray(v) ? v.join(',') : String(v);
}

async function applyGuest(
  ctx: Context,
  g: Guest,
  decision: Decision,
  observed: GuestObservation | undefined,
  noStart: boolean,
): Promise<void> {
  const hv = ctx.drivers.hypervisor;
  if (decision.action === 'replace') {
    throw new DriverError(
      `${decision.reason}; sync never destroys a guest — use \`phoenix delete ${g.id} --force\` and sync again`,
    );
  }
  if (decision.action === 'create') {
    const source = g.cloneFrom !== undefined ? ctx.inventory.guests.get(g.cloneFrom) : undefined;
    await hv.createGuest({
      id: g.id,
      kind: g.kind,
      settings: desiredSettings(g),
      template: g.cloneFrom === undefined ? g.resources.template : undefined,
      cloneFrom: g.cloneFrom !== undefined ? { id: g.cloneFrom, snapshot: source?.snapshotName } : undefined,
      node: g.node,
    });
  } else if (decision.changes?.length) {
    await hv.updateGuest(
      g.id,
      Object.fromEntries(decision.changes.map((c) => [c.field, c.to])) as Partial<GuestSettings>,
    );
  }
  const current = decision.action === 'create' ? undefined : observed;
  if (g.snapshotName && !current?.snapshots.includes(g.snapshotName))
    await hv.snapshotGuest(g.id, g.snapshotName);
  if (g.kind === 'vm' && g.isTemplate && !current?.template) await hv.markTemplate(g.id);
  if (!noStart && shouldRun(g) && current?.status !== 'running') await hv.startGuest(g.id);
}

export const guestHandler: Handler<GuestObservation | undefined> = {
  kind: 'guest',
  read: (ctx, node) => ctx.drivers.hypervisor.getGuest(guestOf(node).id),
  decide: (node, observed) => decideGuest(guestOf(node), observed, createOnly(node)),
  apply: (ctx, node, decision, observed) =>
    applyGuest(ctx, guestOf(node), decision, observed, createOnly(node)),
  async verify(ctx, node) {
    const g = guestOf(node);
    const after = await ctx.drivers.hypervisor.getGuest(g.id);
    const left = decideGuest(g, after, createOnly(node));
    if (left.action !== 'noop')
      throw new DriverError(`after applying, guest ${g.id} still differs: ${left.reason}`);
  },
  fingerprint: (o) => JSON.stringify(o ?? null),
};
