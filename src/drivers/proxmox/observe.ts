import type { GuestObservation } from '../hypervisor/types.js';
import type { PveApi } from './api/client.js';
import { pveBool } from './api/parse.js';
import { getGuestConfig, listSnapshots } from './api/resources.js';
import type { CallOptions } from './api/resources.js';
import type { GuestLocation } from './config/cluster.js';
import { configFromApi, parseGuestSettings } from './config/parse.js';
import { addressOf } from './cluster-view.js';

/**
 * One guest as the engine compares it: status and template flag from /cluster/resources, settings parsed
 * from its config (the pending values applied, as the API returns them), snapshot names from its list.
 */
export async function observeGuest(
  api: PveApi,
  loc: GuestLocation,
  call: CallOptions,
): Promise<GuestObservation> {
  const addr = addressOf(loc);
  const [conf, snapshots] = await Promise.all([
    getGuestConfig(api, addr, call),
    listSnapshots(api, addr, call),
  ]);
  return {
    id: loc.vmid,
    kind: loc.kind,
    status: loc.status === 'running' ? 'running' : 'stopped',
    template: loc.template || pveBool(conf.values.template),
    settings: parseGuestSettings(loc.kind, configFromApi(conf.values)),
    snapshots: snapshots.map((s) => s.name),
    node: loc.node,
  };
}
