import { PortainerNotReady } from '../drivers/portainer/driver.js';
import type { Decision, Upstream } from './types.js';

/**
 * Reads through Portainer before it is ready (a fresh system: no server yet, no administrator, no
 * environment) see nothing there yet, with the reason; what is upstream in this run will make it ready.
 */
export type Readiness<T> = { readonly value: T } | { readonly notReady: string };

export async function whenReady<T>(read: () => Promise<T>): Promise<Readiness<T>> {
  try {
    return { value: await read() };
  } catch (err) {
    if (err instanceof PortainerNotReady) return { notReady: err.why };
    throw err;
  }
}

export function decideNotReady(notReady: string, upstream: Upstream, action: string): Decision {
  if (upstream.changed.length > 0)
    return {
      action: 'create',
      reason: `${action} once ${upstream.changed.join(', ')} ${upstream.changed.length > 1 ? 'are' : 'is'} done`,
    };
  return { action: 'update', reason: `${action}: ${notReady}` };
}
