import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestSettings } from '../../src/drivers/hypervisor/types.js';
import { LabHypervisor } from '../../src/drivers/lab/hypervisor.js';
import { scanCompose } from '../../src/drivers/memory/compose-scan.js';
import type { WorldDocker } from '../../src/drivers/memory/world.js';
import { LabContainers } from '../../src/lab/containers.js';
import { labDown, labInventory, labStatus } from '../../src/lab/lab.js';
import type { LabStatus } from '../../src/lab/lab.js';
import { sandboxUnsupported } from '../../src/lab/sandbox.js';
import { guestPathOf } from '../../src/drivers/memory/container-paths.js';
import {
  labPortainerSecrets,
  labPortainerUrl,
  portainerProcesses,
  reconcilePortainer,
} from '../../src/lab/services/portainer.js';
import { parseArgs, probeAgent } from '../emulators/portainer/main.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { alive, EXAMPLE, newLabDir } from '../helpers/lab.js';

/**
 * The lab's Portainer: the example's server compose deployed through LabContainers starts the test tree's
 * emulator on the guest's lab address with the certificate installed in the guest; a container restart
 * restarts it (new certificate, same admin); agent environments need a running agent stand-in; `lab status`
 * says EMULATED; `lab down` leaves nothing running. Addresses: 127.0.71.x only.
 */

const SKIP = sandboxUnsupported();
const PREFIX = '127.0.71';
const SERVER = `${PREFIX}.111`;
const AGENT = `${PREFIX}.102`;
const SNI = 'portainer.internal.thinkheads.ai';
const COMPOSE = join(REPO_ROOT, 'examples/homelab/stacks/portainer_service/docker-compose.yml');
const AGENT_COMPOSE = `services:
  portainer_agent:
    image: portainer/agent:2.21.0
    container_name: portainer_agent
    environment:
      AGENT_SECRET: \${AGENT_SECRET}
    ports:
      - "9001:9001"
    restart: always
`;

const vm = (name: string, ip: string): GuestSettings => ({
  name,
  onBoot: true,
  bootOrder: 1,
  bootDelaySeconds: 0,
  ip: `${ip}/24`,
});

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA (once) and a leaf for SNI signed by it with a random serial; returns the leaf's files. */
function issue(dir: string): { cert: string; key: string; serial: string } {
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  if (!existsSync(p('ca.crt'))) {
    openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=portainer lab test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]);
  }
  const serial = randomBytes(8).toString('hex').replace(/^./, '4');
  openssl(['req', '-new', ...ec, '-keyout', p('leaf.key'), '-out', p('leaf.csr'), '-subj', `/CN=${SNI}`]);
  writeFileSync(p('ext.cnf'), `subjectAltName=DNS:${SNI}\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    p('leaf.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-set_serial',
    `0x${serial}`,
    '-days',
    '1',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('leaf.crt'),
  ]);
  return { cert: p('leaf.crt'), key: p('leaf.key'), serial: serial.toUpperCase() };
}

interface Answer {
  status: number;
  body: string;
  serial: string;
}

/** HTTPS to the server's lab address, verified against `ca` for the certificate's name (never 10.x). */
function call(
  ca: string,
  method: string,
  path: string,
  body?: { json?: unknown; form?: Record<string, string> },
  jwt?: string,
): Promise<Answer> {
  const payload =
    body?.json !== undefined
      ? JSON.stringify(body.json)
      : body?.form
        ? new URLSearchParams(body.form).toString()
        : undefined;
  const type = body?.json !== undefined ? 'application/json' : 'application/x-www-form-urlencoded';
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: SERVER,
        port: 9443,
        path,
        method,
        ca,
        servername: SNI,
        agent: false,
        timeout: 5000,
        headers: {
          ...(payload !== undefined ? { 'content-type': type } : {}),
          ...(jwt ? { authorization: `Bearer ${jwt}` } : {}),
        },
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, serial }));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end(payload);
  });
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

const agentForm = (name: string, host = AGENT) => ({
  Name: name,
  EndpointCreationType: '2',
  URL: `tcp://${host}:9001`,
  TLS: 'true',
  TLSSkipVerify: 'true',
  TLSSkipClientVerify: 'true',
});

test('compose scan records image, command, published ports and mounts; container paths map to guest paths', async () => {
  const scanned = await scanCompose('portainer_service', await readFile(COMPOSE, 'utf8'), {});
  const s = scanned.services[0]!;
  assert.equal(s.image, 'portainer/portainer-ce:latest');
  assert.deepEqual(s.command, [
    '-H',
    'unix:///var/run/docker.sock',
    '--sslcert',
    '/certs/portainer.crt',
    '--sslkey',
    '/certs/portainer.key',
  ]);
  assert.deepEqual(
    s.ports.map((p) => [p.container, p.host]),
    [
      [9000, 9000],
      [9443, 9443],
    ],
  );
  assert.deepEqual(s.binds[2], {
    type: 'bind',
    source: '/persistent-storage/portainer/certs',
    target: '/certs',
    readOnly: true,
  });
  assert.deepEqual(s.binds[1], {
    type: 'volume',
    source: 'portainer_data_nfs',
    target: '/data',
    readOnly: false,
  });
  const c = { name: 'x', running: true, startedAt: '', binds: [...s.binds] };
  assert.equal(guestPathOf(c, '/certs/portainer.key'), '/persistent-storage/portainer/certs/portainer.key');
  assert.equal(guestPathOf(c, '/data/x'), '/var/lib/docker/volumes/portainer_data_nfs/_data/x');
  assert.equal(guestPathOf(c, '/etc/passwd'), undefined);
});

test('the emulator process refuses non-loopback listen addresses and agent hosts', async () => {
  assert.throws(() => parseArgs(['--listen', '10.0.0.111:9443']), /only 127\.0\.0\.0\/8/);
  assert.throws(() => parseArgs(['--listen', '0.0.0.0:9443']), /only 127\.0\.0\.0\/8/);
  assert.throws(() => parseArgs(['--listen', `${SERVER}:9443`, '--cert', 'c']), /go together/);
  assert.equal(parseArgs(['--listen', `${SERVER}:9443`, '--probe-agents']).probeAgents, true);
  // Refused before any connection is attempted.
  assert.equal(await probeAgent('tcp://10.0.0.102:9001'), false);
});

test("the example's Portainer in the lab view: the primary VM's lab address, the certificate's name", async () => {
  assert.deepEqual(labPortainerUrl(await labInventory(EXAMPLE)), {
    url: 'https://127.0.0.111:9443',
    servername: SNI,
  });
});

test('the lab secrets are made once, 0600, and reused', async (t) => {
  const lab = await mkdtemp(join(tmpdir(), 'phoenix-lab-secrets-'));
  t.after(() => rm(lab, { recursive: true, force: true }));
  const [a, b] = await Promise.all([labPortainerSecrets(lab), labPortainerSecrets(lab)]);
  assert.deepEqual(a, b);
  assert.notEqual(a.adminPassword, a.agentSecret);
  assert.match(a.adminPassword, /^[A-Za-z0-9_-]{43}$/);
  for (const f of ['portainer-admin-password', 'portainer-agent-secret']) {
    assert.equal((await stat(join(lab, 'secrets', f))).mode & 0o777, 0o600);
  }
});

test(
  'Portainer in the lab: emulator through LabContainers, restart with a renewed certificate, agents, status, lab down',
  { skip: SKIP, timeout: 120_000 },
  async (t) => {
    const lab = await newLabDir();
    const pki = await mkdtemp(join(tmpdir(), 'phoenix-portainer-pki-'));
    t.after(async () => {
      await labDown(lab, () => undefined);
      await rm(lab, { recursive: true, force: true });
      await rm(pki, { recursive: true, force: true });
    });
    const hv = new LabHypervisor({ labDir: lab });
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const docker = new LabContainers(hv.guestsDir, hv, () => new Date(clock), {
      onChange: (guest, state) => reconcilePortainer(lab, guest, { docker: state }),
    });
    await hv.createGuest({ id: 1001, kind: 'vm', settings: vm('portainer', SERVER) });
    await hv.createGuest({ id: 1002, kind: 'vm', settings: vm('drphoenix', AGENT) });
    await hv.startGuest(1001);
    await hv.startGuest(1002);

    const install = async (leaf: { cert: string; key: string }) => {
      const dir = '/persistent-storage/portainer/certs';
      await hv.writeFile(1001, `${dir}/portainer.crt`, await readFile(leaf.cert), {
        owner: 'root',
        group: 'root',
        mode: 0o644,
      });
      await hv.writeFile(1001, `${dir}/portainer.key`, await readFile(leaf.key), {
        owner: 'root',
        group: 'root',
        mode: 0o600,
      });
    };
    const first = issue(pki);
    const ca = await readFile(join(pki, 'ca.crt'), 'utf8');
    await install(first);

    await t.test(
      'deploying the server compose starts the emulator with the installed certificate',
      async () => {
        await docker.createVolume(1001, { name: 'portainer_data_nfs', driver: 'local' });
        await docker.deployStack(1001, {
          name: 'portainer_service',
          compose: await readFile(COMPOSE, 'utf8'),
          env: {},
          contentHash: 'h1',
        });
        const [proc] = await portainerProcesses(lab, 1001);
        assert.equal(proc?.running, true);
        assert.equal(proc.kind, 'server');
        const status = await call(ca, 'GET', '/api/system/status');
        assert.equal(status.status, 200);
        assert.match(status.body, /"InstanceID"/);
        assert.equal(status.serial, first.serial, 'serves the certificate installed in the guest');
      },
    );

    const { adminPassword, agentSecret } = await labPortainerSecrets(lab);
    let jwt = '';
    await t.test(
      'admin init is persisted as a hash and survives a restart with a renewed certificate',
      async () => {
        const init = await call(ca, 'POST', '/api/users/admin/init', {
          json: { Username: 'admin', Password: adminPassword },
        });
        assert.equal(init.status, 200);
        const dataDir = join(lab, 'portainer', '1001', 'data');
        const files = await readdir(dataDir);
        assert.deepEqual(files, ['volume-portainer_data_nfs.json']);
        const saved = await readFile(join(dataDir, files[0]!), 'utf8');
        assert.ok(!saved.includes(adminPassword), 'the password is never stored in clear');
        assert.match(saved, /"passwordHash"/);
        assert.equal((await stat(join(dataDir, files[0]!))).mode & 0o777, 0o600);

        const before = (await portainerProcesses(lab, 1001))[0]!;
        const renewed = issue(pki);
        assert.notEqual(renewed.serial, first.serial);
        await install(renewed);
        // Still the old certificate: Portainer reads it at start only.
        assert.equal((await call(ca, 'GET', '/api/system/status')).serial, first.serial);
        clock += 60_000;
        await docker.restartContainer(1001, 'portainer_server');
        const after = (await portainerProcesses(lab, 1001))[0]!;
        assert.notEqual(after.pid, before.pid, 'the container restart restarted the process');
        assert.equal(await alive(before), false);
        assert.equal((await call(ca, 'GET', '/api/system/status')).serial, renewed.serial);
        assert.equal((await call(ca, 'GET', '/api/users/admin/check')).status, 204);
        const auth = await call(ca, 'POST', '/api/auth', {
          json: { Username: 'admin', Password: adminPassword },
        });
        assert.equal(auth.status, 200);
        jwt = (JSON.parse(auth.body) as { jwt: string }).jwt;
        const wrong = await call(ca, 'POST', '/api/auth', {
          json: { Username: 'admin', Password: 'not-it-at-all' },
        });
        assert.equal(wrong.status, 422);
      },
    );

    await t.test('an agent environment needs a running agent stand-in', async () => {
      const none = await call(ca, 'POST', '/api/endpoints', { form: agentForm('drphoenix') }, jwt);
      assert.equal(none.status, 500, 'nothing listens yet');
      assert.match(none.body, /failed to ping agent/i);
      const outside = await call(ca, 'POST', '/api/endpoints', { form: agentForm('x', '10.0.0.102') }, jwt);
      assert.equal(outside.status, 500, 'an agent outside 127/8 is never dialled');

      await docker.deployStack(1002, {
        name: 'portainer_agent',
        compose: AGENT_COMPOSE,
        env: { AGENT_SECRET: agentSecret },
        contentHash: 'a1',
      });
      assert.equal((await portainerProcesses(lab, 1002))[0]?.kind, 'agent');
      const created = await call(ca, 'POST', '/api/endpoints', { form: agentForm('drphoenix') }, jwt);
      assert.equal(created.status, 200, created.body);

      // The agent's container stops (it crashed): its stand-in goes with it.
      const file = join(lab, 'guests', '1002', 'docker.json');
      const state = JSON.parse(await readFile(file, 'utf8')) as WorldDocker;
      state.containers.portainer_agent!.running = false;
      await writeFile(file, JSON.stringify(state));
      await reconcilePortainer(lab, 1002);
      assert.equal(await tcpOpen(AGENT, 9001), false);
      const stopped = await call(ca, 'POST', '/api/endpoints', { form: agentForm('drphoenix-2') }, jwt);
      assert.equal(stopped.status, 500);
      assert.match(stopped.body, /failed to ping agent at tcp:\/\/127\.0\.71\.102:9001/i);
      state.containers.portainer_agent!.running = true;
      await writeFile(file, JSON.stringify(state));
      await reconcilePortainer(lab, 1002);
      assert.equal(await tcpOpen(AGENT, 9001), true);
    });

    await t.test(
      'lab status lists the emulator as EMULATED and the agent stand-in, also as JSON',
      async () => {
        const lines: string[] = [];
        await labStatus(lab, undefined, (l) => lines.push(l));
        const text = lines.join('\n');
        assert.match(
          text,
          /EMULATED\s+portainer\s+VM 1001\s+https:\/\/127\.0\.71\.111:9443\s+running \(pid \d+\), container portainer_server \(Portainer API emulator from test\/emulators\/portainer; no Docker runs\)/,
        );
        assert.match(text, /STAND-IN\s+portainer-agent\s+VM 1002\s+127\.0\.71\.102:9001\s+running/);
        const json: string[] = [];
        await labStatus(lab, undefined, (l) => json.push(l), { json: true });
        const status = JSON.parse(json.join('\n')) as LabStatus;
        const server = status.services.find((s) => s.name === 'portainer');
        assert.equal(server?.kind, 'emulated');
        assert.equal(server.listen, `https://${SERVER}:9443`);
        assert.equal(server.state, 'running');
        assert.equal(status.services.find((s) => s.name === 'portainer-agent')?.kind, 'stand-in');
        assert.ok(!text.includes(adminPassword) && !json.join('').includes(adminPassword));
      },
    );

    await t.test(
      'lab down stops them by pid; the boot of the guest brings the server back with its data',
      async () => {
        const procs = await portainerProcesses(lab);
        assert.equal(procs.length, 2);
        const lines: string[] = [];
        const { stillAlive } = await labDown(lab, (l) => lines.push(l));
        assert.deepEqual(stillAlive, []);
        for (const p of procs)
          assert.equal(await alive(p), false, `pid ${p.pid} (${p.container}) still runs`);
        assert.equal(await tcpOpen(SERVER, 9443), false);
        assert.equal(await tcpOpen(AGENT, 9001), false);
        assert.match(lines.join('\n'), /stopped Portainer emulator for portainer_server/);
        const status: string[] = [];
        await labStatus(lab, undefined, (l) => status.push(l));
        assert.match(
          status.join('\n'),
          /EMULATED\s+portainer\s+VM 1001\s+https:\/\/127\.0\.71\.111:9443\s+stopped/,
        );

        // What `lab up` does for each guest it starts again: containers with restart: always come back.
        await hv.startGuest(1001);
        await reconcilePortainer(lab, 1001, { boot: true });
        const auth = await call(ca, 'POST', '/api/auth', {
          json: { Username: 'admin', Password: adminPassword },
        });
        assert.equal(auth.status, 200, 'the admin survived lab down and up');
        const envs = await call(
          ca,
          'GET',
          '/api/endpoints',
          undefined,
          (JSON.parse(auth.body) as { jwt: string }).jwt,
        );
        // "primary" is the local environment Portainer makes from `-H unix:///var/run/docker.sock`.
        assert.deepEqual(
          (JSON.parse(envs.body) as Array<{ Name: string; URL: string }>).map((e) => [e.Name, e.URL]),
          [
            ['primary', 'unix:///var/run/docker.sock'],
            ['drphoenix', `tcp://${AGENT}:9001`],
          ],
        );
        const again = await portainerProcesses(lab);
        await labDown(lab, () => undefined);
        for (const p of again) assert.equal(await alive(p), false);
      },
    );
  },
);
