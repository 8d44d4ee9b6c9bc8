import type { ServerStatus } from '../drivers/portainer/driver.js';
import { DriverError } from '../drivers/errors.js';
import { waitFor } from '../engine/wait.js';
import type { ResourceNode } from '../graph/types.js';
import type { PortainerServer } from '../model/portainer.js';
import type { Handler } from './types.js';
import { noop } from './types.js';

/** How long a freshly (re)started Portainer may take to answer its API. */
export const SERVER_START_DEADLINE_MS = 60_000;

function server(node: ResourceNode): PortainerServer {
  if (node.spec.kind !== 'portainer-server') throw new Error(`${node.id} is not a Portainer server`);
  return node.spec.server;
}

const url = (s: PortainerServer) => `https://${s.address}:${s.port}${s.hostname ? ` (${s.hostname})` : ''}`;

/**
 * The Portainer server answers its API over HTTPS with a certificate the internal CA issued for its name
 * (the driver verifies both). Its container comes from the server's stack; this node waits for it to
 * answer after that stack or a restart changed, and fails with the reason when it never does.
 */
export const portainerServerHandler: Handler<ServerStatus> = {
  kind: 'portainer-server',
  read: (ctx) => ctx.drivers.portainer.status(),
  decide(node, status, upstream) {
    const s = server(node);
    if (upstream.changed.length > 0)
      return {
        action: 'update',
        reason: `wait for Portainer at ${url(s)} after ${upstream.changed.join(', ')}`,
      };
    if (status.answering) return noop(`Portainer ${status.version} answers at ${url(s)}`);
    return { action: 'update', reason: `Portainer does not answer at ${url(s)}: ${status.reason}` };
  },
  async apply(ctx, node) {
    const s = server(node);
    let last = '';
    try {
      await waitFor(ctx, `Portainer to answer at ${url(s)}`, SERVER_START_DEADLINE_MS, async () => {
        const status = await ctx.drivers.portainer.status();
        if (!status.answering) last = status.reason;
        return status.answering;
      });
    } catch (err) {
      throw new DriverError(`${(err as Error).message}${last ? `; last answer: ${last}` : ''}`);
    }
  },
  async verify(ctx, node) {
    const status = await ctx.drivers.portainer.status();
    if (!status.answering)
      throw new DriverError(`Portainer does not answer at ${url(server(node))}: ${status.reason}`);
  },
};
