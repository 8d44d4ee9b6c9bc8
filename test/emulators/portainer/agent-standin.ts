import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { makeEmulatorTls } from './cert.js';
import { loopbackHostPort } from './main.js';

/**
 * A stand-in for the Portainer agent, where a portainer/agent container runs in the lab: TLS with a
 * self-signed pair made at start (the real agent makes one too, which is why Portainer connects with
 * TLSSkipVerify), answering `GET /ping` with 204 as the agent does, and 404 to anything else. It exists so
 * that the Portainer emulator's agent probe meets a listener exactly when the agent's container runs.
 *
 *   node agent-standin.js --listen HOST:PORT        (127/8 only)
 */

export interface AgentStandIn {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startAgentStandIn(host: string, port: number): Promise<AgentStandIn> {
  const { host: h, port: p } = loopbackHostPort(`${host}:${port}`, 'agent stand-in listen address');
  const tls = await makeEmulatorTls(h);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    req.resume();
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/ping') res.writeHead(204).end();
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(p, h, () => (server.off('error', fail), ok()));
  });
  const address = server.address();
  return {
    host: h,
    port: typeof address === 'object' && address ? address.port : p,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] !== '--listen' || argv[1] === undefined || argv.length !== 2) {
    throw new Error('usage: agent-standin.js --listen HOST:PORT');
  }
  const { host, port } = loopbackHostPort(argv[1], '--listen');
  const agent = await startAgentStandIn(host, port);
  const stop = () => void agent.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(
    `${new Date().toISOString()} phoenix lab Portainer agent stand-in pid ${process.pid} listening on ${agent.host}:${agent.port}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`phoenix lab Portainer agent stand-in: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
