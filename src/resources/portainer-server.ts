import { DriverError } from '../drivers/errors.js';
import { waitFor } from '../engine/wait.js';
import type { ResourceNode } from '../graph/types.js';
import { serverCertificate, type PortainerServer } from '../model/portainer.js';
import { parseCertificate } from '../certs/x509.js';
import type { Context, Handler } from './types.js';
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
export const portainerServerHandler: Handler<{ readonly problem: string | undefined }> = {
  kind: 'portainer-server',
  read: async (ctx, node) => ({ problem: await problem(ctx, server(node)) }),
  decide(node, { problem: wrong }, upstream) {
    const s = server(node);
    if (upstream.changed.length > 0)
      return {
        action: 'update',
        reason: `wait for Portainer at ${url(s)} after ${upstream.changed.join(', ')}`,
      };
    if (!wrong) return noop(`Portainer answers at ${url(s)} with the certificate Phoenix issued`);
    return { action: 'update', reason: `Portainer at ${url(s)} ${wrong}` };
  },
  async apply(ctx, node) {
    const s = server(node);
    let last = '';
    try {
      await waitFor(ctx, `Portainer to answer at ${url(s)}`, SERVER_START_DEADLINE_MS, async () => {
        last = (await problem(ctx, s)) ?? '';
        return last === '';
      });
    } catch (err) {
      throw new DriverError(`${(err as Error).message}${last ? `; last answer: ${last}` : ''}`);
    }
  },
  async verify(ctx, node) {
    const wrong = await problem(ctx, server(node));
    if (wrong) throw new DriverError(`Portainer at ${url(server(node))}: ${wrong}`);
  },
};

/**
 * Why the server is not yet as wanted, or undefined: it must answer its API and serve the certificate
 * Phoenix issued for its name (the one stored), not an older one or Portainer's own self-signed pair.
 */
async function problem(ctx: Context, s: PortainerServer): Promise<string | undefined> {
  const status = await ctx.drivers.portainer.status();
  if (!status.answering) return `does not answer: ${status.reason}`;
  const name = s.hostname;
  const cert = serverCertificate(ctx.inventory, s);
  const stored = name && cert ? await ctx.certs.load(cert.name) : undefined;
  if (!name || !stored) return undefined;
  const want = (await parseCertificate(stored.certPem)).serial;
  const got = await ctx.drivers.tls
    .served({ guest: s.guest, port: s.port, serverName: name, signal: ctx.signal })
    .catch((e: unknown) => ({ serial: `none (${(e as Error).message})` }));
  return got.serial === want ? undefined : `serves certificate serial ${got.serial}, Phoenix issued ${want}`;
}
