import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { readFile, rm } from 'node:fs/promises';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { FileCertificateStore } from '../../src/certs/file-store.js';
import { createLabDrivers } from '../../src/drivers/lab/index.js';
import { UPSTREAM_HEADER } from '../../src/generate/nginx.js';
import { gatewayCertPaths } from '../../src/generate/nginx-certs.js';
import { meshRoutes, type Backend } from '../../src/generate/routes.js';
import { labInventory } from '../../src/lab/lab.js';
import { Sandbox } from '../../src/lab/sandbox.js';
import { runningTraefik } from '../../src/lab/services/traefik.js';
import { verifyDnsAnswers, verifyGatewayReachesMesh } from '../../src/resources/network-verify.js';
import type { Context } from '../../src/resources/types.js';
import {
  alive,
  assertRan,
  exampleOn,
  labPhoenix,
  labSkipReason,
  newLabDir,
  recordedPids,
} from '../helpers/lab.js';

/**
 * Issue 6 end to end on the lab: after `sync all` on the example (moved onto 127.0.63.x), every routed name
 * resolves through the lab's real dnsmasq to the gateway, and an HTTPS request to that address with the
 * name as SNI gets a certificate that verifies against the lab CA's root and an answer from the right
 * backend, through the real nginx and the Traefik stand-in. Backends are small servers this test starts on
 * the routed backends' lab addresses and ports (from the same routes table), except step-ca, which is real.
 * Then the two ways the mesh can fail are shown to be told apart. Everything is on 127.0.0.0/8.
 */

const skip = await labSkipReason();
const OCTET = 63;
const PREFIX = `127.0.${OCTET}`;

interface Echo {
  readonly backend: string;
  readonly host: string;
  readonly path: string;
  readonly proto: string;
}

function echo(backend: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const body: Echo = {
      backend,
      host: String(req.headers.host),
      path: req.url ?? '',
      proto: String(req.headers['x-forwarded-proto']),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

function listening(server: Server, b: Backend): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(b.port, b.address, () => resolve(server));
  });
}

interface Answer {
  readonly status: number;
  readonly authorized: boolean;
  readonly upstream?: string;
  readonly body: string;
}

/** GET https://name/path at `address`, SNI and Host = name, verified against `rootPem` only. */
function fetchVia(address: string, name: string, path: string, rootPem: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest(
      {
        host: address,
        port: 443,
        path,
        servername: name,
        headers: { host: name },
        ca: rootPem,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            authorized: (res.socket as { authorized?: boolean }).authorized === true,
            upstream: res.headers[UPSTREAM_HEADER.toLowerCase()] as string | undefined,
            body,
          }),
        );
      },
    );
    r.setTimeout(10_000, () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

test(
  'sync all on the lab: each routed name resolves to the gateway and reaches its backend through nginx and Traefik',
  { skip, timeout: 600_000 },
  async (t) => {
    const config = await exampleOn(OCTET);
    const lab = await newLabDir();
    const backends: Server[] = [];
    t.after(async () => {
      for (const s of backends) {
        s.closeAllConnections();
        s.close();
      }
      await labPhoenix(config, lab, 'lab', 'down');
      await rm(lab, { recursive: true, force: true });
      await rm(config, { recursive: true, force: true });
    });

    assertRan(await labPhoenix(config, lab, 'lab', 'up'), 'lab up');
    const inv = await labInventory(config);
    const routes = meshRoutes(inv).routes;
    assert.deepEqual(
      routes.map((r) => r.hostname),
      [
        'ca.internal.thinkheads.ai',
        'portainer.internal.thinkheads.ai',
        'portainer-agent.internal.thinkheads.ai',
        'qdrant.internal.thinkheads.ai',
      ],
    );
    for (const r of routes) for (const b of r.backends) assert.match(b.address, new RegExp(`^${PREFIX}\\.`));

    // Plain-http backends start now; the routes table says where.
    const backendOf = (name: string) => routes.find((r) => r.hostname === name)!.backends[0]!;
    const qdrant = backendOf('qdrant.internal.thinkheads.ai');
    assert.equal(qdrant.scheme, 'http');
    backends.push(await listening(createHttp(echo(`${qdrant.address}:${qdrant.port}`)), qdrant));

    const first = await labPhoenix(config, lab, 'sync', 'all');
    assertRan(first, 'sync all');
    assert.match(first.stdout + first.stderr, /\d+ ok, \d+ unchanged, 0 failed, 0 skipped/);

    // Portainer's backend is https: the lab's Portainer emulator, started when the server's container was
    // deployed, serving the certificate Phoenix issued to the Portainer VM in this sync (full chain), which
    // Traefik verifies against the CA root Phoenix installed in the mesh guest.
    const portainer = backendOf('portainer.internal.thinkheads.ai');
    assert.equal(portainer.scheme, 'https');
    const drivers = createLabDrivers({ labDir: lab, inventory: inv });

    const rootPem = await readFile(join(lab, 'ca/certs/root_ca.crt'), 'utf8');
    const resolver = new dns.Resolver({ timeout: 1000, tries: 2 });
    resolver.setServers([`${PREFIX}.13:53`]);
    const covered = gatewayCertPaths(inv);
    for (const route of routes) {
      const name = route.hostname;
      const [address, ...more] = await resolver.resolve4(name);
      assert.equal(address, `${PREFIX}.153`, `${name} resolves to the gateway`);
      assert.deepEqual(more, [], `${name} resolves to the gateway only`);
      if (!covered(name)) {
        // No certificate on the gateway covers it: no TLS server, and no other name's certificate either.
        await assert.rejects(
          fetchVia(address, name, '/', rootPem),
          /alert|handshake|ECONNRESET|unrecognized/i,
        );
        continue;
      }
      const backend = route.backends[0]!;
      const path = name.startsWith('ca.')
        ? '/health'
        : name.startsWith('portainer.')
          ? '/api/status'
          : '/phoenix-e2e?via=gateway';
      const answer = await fetchVia(address, name, path, rootPem);
      assert.equal(
        answer.authorized,
        true,
        `${name}: the gateway's certificate verifies against the lab root`,
      );
      assert.equal(answer.status, 200, `${name}: ${answer.body}`);
      assert.match(answer.upstream ?? '', /^200 \d+\.\d+$/, `${name}: the answer came from the mesh`);
      if (name.startsWith('ca.')) {
        // The ca route's backend is the lab's real step-ca (https, verified by Traefik against the root).
        assert.match(answer.body, /"status":\s*"ok"/);
        continue;
      }
      if (name.startsWith('portainer.')) {
        // The lab's Portainer emulator answered through the gateway and the mesh.
        assert.match(answer.body, /"Version"/);
        continue;
      }
      const seen = JSON.parse(answer.body) as Echo;
      assert.deepEqual(seen, {
        backend: `${backend.address}:${backend.port}`,
        host: name,
        path,
        proto: 'https',
      });
    }

    // The verifications of the engine, with the lab's probes, agree.
    const ctx: Context = {
      inventory: inv,
      graph: { nodes: new Map() },
      drivers,
      certs: new FileCertificateStore(join(lab, 'state', 'certs')),
      signal: new AbortController().signal,
      waiting: () => {},
    };
    await verifyDnsAnswers(ctx);
    await verifyGatewayReachesMesh(ctx);

    // A second sync changes nothing.
    const second = await labPhoenix(config, lab, 'sync', 'all');
    assertRan(second, 'second sync all');
    assert.match(second.stdout + second.stderr, / 0 ok, \d+ unchanged, 0 failed, 0 skipped/);

    // A backend that is down: the mesh answers 502 itself, and the header says the mesh answered.
    backends[0]!.close();
    const down = await fetchVia(`${PREFIX}.153`, 'qdrant.internal.thinkheads.ai', '/', rootPem);
    assert.equal(down.status, 502);
    assert.match(down.upstream ?? '', /^502 \d+\.\d+$/);
    await verifyGatewayReachesMesh(ctx);

    // The mesh itself down (the stand-in stopped by pid): nginx answers 502 itself, and verification says so.
    const mesh = (await Sandbox.open(join(lab, 'guests'), 102))!;
    const traefik = (await runningTraefik(mesh))!;
    assert.ok(traefik, 'the Traefik stand-in runs in the mesh guest');
    await mesh.stopService(traefik.pid);
    assert.equal(await alive(traefik), false);
    const unreachable = await fetchVia(`${PREFIX}.153`, 'qdrant.internal.thinkheads.ai', '/', rootPem);
    assert.equal(unreachable.status, 502);
    assert.equal(unreachable.upstream, '502 -');
    await assert.rejects(
      verifyGatewayReachesMesh(ctx),
      new RegExp(
        `the gateway cannot reach the mesh at ${PREFIX.replaceAll('.', '\\.')}\\.12:80 \\(nginx answered 502 itself\\)`,
      ),
    );

    // `systemctl start traefik` in the mesh guest brings it back (the lab's unit), and the path works again.
    const started = await drivers.hypervisor.exec(102, ['systemctl', 'start', 'traefik']);
    assert.equal(started.exitCode, 0, started.stderr);
    await verifyGatewayReachesMesh(ctx);

    // Everything the lab started stops by pid.
    const pids = await recordedPids(lab);
    assert.ok(
      pids.some((p) => /traefik/.test(p.name ?? '')),
      'the stand-in is one of the recorded services',
    );
    assertRan(await labPhoenix(config, lab, 'lab', 'down'), 'lab down');
    for (const p of pids)
      assert.equal(await alive(p), false, `${p.name} (pid ${p.pid}) still runs after lab down`);
    assert.equal(await tcpAnswers(`${PREFIX}.12`, 80), false, 'the Traefik stand-in still answers');
  },
);
