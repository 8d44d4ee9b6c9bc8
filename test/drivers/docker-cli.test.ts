import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { StackDeploy } from '../../src/drivers/containers/types.js';
import { DriverError, NotFoundError } from '../../src/drivers/errors.js';
import { PveApiClient } from '../../src/drivers/proxmox/api/index.js';
import { ProxmoxHypervisor } from '../../src/drivers/proxmox/hypervisor.js';
import {
  composePs,
  DockerCliContainers,
  DockerCommandFailed,
  envFile,
  volumeSpecOf,
} from '../../src/drivers/target/docker-cli.js';
import { DockerCliEmulator, dockerExecHook, parseDotenv } from '../emulators/docker-cli/index.js';
import { startPveEmulator } from '../emulators/pve-api/server.js';
import type { PveEmulator } from '../emulators/pve-api/server.js';
import { cleanup, testEngine } from '../helpers/engine.js';

/**
 * The direct Docker driver end to end: ProxmoxHypervisor over the REST emulator, the guest agent's exec
 * answered by the docker CLI emulator, files written through the agent. VM 1001 runs Docker, 1002 is
 * stopped, 1003 runs without Docker installed; 1999 does not exist.
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const TOKEN_ID = 'phoenix@pve!docker';
const TOKEN = randomUUID();
const AGENT_SECRET = `agent-${randomUUID()}`;
const DIR = '/opt/phoenix/stacks/portainer';

const COMPOSE = `services:
  portainer:
    image: portainer/portainer-ce:2.21.4
    container_name: portainer_server
    volumes:
      - portainer_data:/data
  helper:
    image: alpine:3.20
    environment:
      AGENT_SECRET: \${AGENT_SECRET}
volumes:
  portainer_data:
    external: true
`;

let emu: PveEmulator;
let docker: DockerCliEmulator;
let drv: DockerCliContainers;
let clock = Date.parse('2025-01-01T00:00:00Z');

const deployment = (over: Partial<StackDeploy> = {}): StackDeploy => ({
  name: 'portainer',
  compose: COMPOSE,
  env: { AGENT_SECRET, TZ: 'Europe/Paris' },
  contentHash: 'a'.repeat(64),
  ...over,
});
const execArgvs = () =>
  emu.requests.filter((r) => r.path.endsWith('/agent/exec')).map((r) => [r.params.command ?? []].flat());
const file = (path: string) => emu.model.guests.get(1001)!.files.get(path)?.toString('utf8');

before(async () => {
  emu = await startPveEmulator({ nodes: ['pve'] });
  emu.tokens.set(TOKEN_ID, TOKEN);
  emu.model.execPolls = 0;
  emu.model.taskPolls = 0;
  for (const [vmid, status] of [
    [1001, 'running'],
    [1002, 'stopped'],
    [1003, 'running'],
  ] as const)
    emu.model.addGuest({
      vmid,
      type: 'qemu',
      node: 'pve',
      status,
      config: { name: `vm${vmid}`, agent: '1' },
    });
  docker = new DockerCliEmulator({ now: () => new Date((clock += 1000)) });
  docker.uninstalled.add('1003');
  emu.execHook = dockerExecHook(docker);
  const e = await testEngine(EXAMPLE);
  const inventory = e.analysis.inventory!;
  cleanup(e);
  const api = new PveApiClient({
    host: emu.host,
    port: emu.port,
    auth: { kind: 'token', tokenId: TOKEN_ID, secret: TOKEN },
    trust: { fingerprint: emu.tls.fingerprint },
    retry: { attempts: 2, baseDelayMs: 5 },
  });
  const hv = new ProxmoxHypervisor({ api, inventory, tasks: { pollMs: 2, maxPollMs: 5 } });
  drv = new DockerCliContainers(hv);
});
after(() => emu.close());

describe('volumes', () => {
  test('a local and an NFS volume read back as they were declared, labelled as Phoenix made them', async () => {
    const nfs = {
      name: 'media',
      driver: 'nfs',
      server: '10.0.0.5',
      export: '/export/media',
      options: 'nfsvers=4.1,soft',
    } as const;
    await drv.createVolume(1001, { name: 'portainer_data', driver: 'local' });
    await drv.createVolume(1001, nfs);
    assert.deepEqual(await drv.listVolumes(1001), [nfs, { name: 'portainer_data', driver: 'local' }]);
    const create = docker.calls.find((c) => c.argv.includes('create') && c.argv.includes('media'))!;
    assert.deepEqual(create.argv, [
      'docker',
      'volume',
      'create',
      '--driver',
      'local',
      '--opt',
      'type=nfs',
      '--opt',
      'o=addr=10.0.0.5,nfsvers=4.1,soft',
      '--opt',
      'device=:/export/media',
      '--label',
      'org.phoenix.managed=true',
      '--',
      'media',
    ]);
    assert.deepEqual(docker.host(1001).volumes.get('portainer_data')!.Labels, {
      'org.phoenix.managed': 'true',
    });
  });

  test('creating a volume that exists is a no-op; one with other settings is reported, not replaced', async () => {
    await drv.createVolume(1001, { name: 'portainer_data', driver: 'local' });
    await assert.rejects(
      drv.createVolume(1001, { name: 'media', driver: 'nfs', server: '10.0.0.6', export: '/export/media' }),
      /guest 1001: volume media exists with other settings \(option o is "addr=10\.0\.0\.5,nfsvers=4\.1,soft", declared "addr=10\.0\.0\.6"\)/,
    );
    assert.equal(docker.host(1001).volumes.get('media')!.Options!.o, 'addr=10.0.0.5,nfsvers=4.1,soft');
  });

  test('an invalid volume spec is refused before anything runs', async () => {
    const before = docker.calls.length;
    await assert.rejects(drv.createVolume(1001, { name: '-x', driver: 'local' }), DriverError);
    await assert.rejects(
      drv.createVolume(1001, { name: 'v', driver: 'nfs', server: 'a b', export: '/e' }),
      /invalid NFS server/,
    );
    assert.equal(docker.calls.length, before);
  });

  test('volumeSpecOf inverts the Engine API encoding; other drivers cannot be declared', () => {
    assert.deepEqual(
      volumeSpecOf({ Name: 'n', Driver: 'local', Options: { type: 'nfs', o: 'addr=nas', device: ':/e' } }),
      { name: 'n', driver: 'nfs', server: 'nas', export: '/e' },
    );
    assert.deepEqual(volumeSpecOf({ Name: 'l', Driver: 'local', Options: null }), {
      name: 'l',
      driver: 'local',
    });
    assert.equal(volumeSpecOf({ Name: 'p', Driver: 'rexray', Options: {} }), undefined);
  });
});

describe('stacks', () => {
  test('deploy writes the files with their modes, runs compose up, and reads back running with its hash', async () => {
    await drv.deployStack(1001, deployment());
    const vm = emu.model.guests.get(1001)!;
    assert.deepEqual(vm.meta.get(`${DIR}/.env`), { uid: 0, gid: 0, mode: 0o600 });
    assert.deepEqual(vm.meta.get(`${DIR}/docker-compose.yml`), { uid: 0, gid: 0, mode: 0o644 });
    assert.equal(file(`${DIR}/docker-compose.yml`), COMPOSE);
    assert.equal(file(`${DIR}/.phoenix-content`), `${'a'.repeat(64)}\n`);
    assert.deepEqual(parseDotenv(file(`${DIR}/.env`)!), { AGENT_SECRET, TZ: 'Europe/Paris' });
    const up = docker.calls.at(-1)!.argv;
    assert.deepEqual(up, [
      'docker',
      'compose',
      '--ansi',
      'never',
      '--project-name',
      'portainer',
      '--project-directory',
      DIR,
      '-f',
      `${DIR}/docker-compose.yml`,
      '--env-file',
      `${DIR}/.env`,
      'up',
      '-d',
      '--remove-orphans',
    ]);
    assert.deepEqual(await drv.getStack(1001, 'portainer'), {
      name: 'portainer',
      contentHash: 'a'.repeat(64),
      services: [
        { name: 'helper', container: 'portainer-helper-1', running: true },
        { name: 'portainer', container: 'portainer_server', running: true },
      ],
    });
  });

  test('compose ps as one JSON array (compose before 2.21) reads the same', async () => {
    const lines = await drv.getStack(1001, 'portainer');
    docker.psFormat = 'array';
    try {
      assert.deepEqual(await drv.getStack(1001, 'portainer'), lines);
    } finally {
      docker.psFormat = 'lines';
    }
    assert.deepEqual(composePs('', 1001), []);
    assert.deepEqual(composePs('[]\n', 1001), []);
  });

  test('a service of the compose file without a container counts as not running', async () => {
    const host = docker.host(1001);
    const helper = host.containers.get('portainer-helper-1')!;
    host.containers.delete('portainer-helper-1');
    host.containers.get('portainer_server')!.running = false;
    try {
      const seen = await drv.getStack(1001, 'portainer');
      assert.deepEqual(seen!.services, [
        { name: 'portainer', container: 'portainer_server', running: false },
        { name: 'helper', container: 'portainer-helper-1', running: false },
      ]);
    } finally {
      host.containers.set('portainer-helper-1', helper);
      host.containers.get('portainer_server')!.running = true;
    }
  });

  test("a redeploy whose external volume is missing fails with compose's message; the content file stays", async () => {
    const compose = COMPOSE.replaceAll('portainer_data', 'portainer_data2');
    await assert.rejects(
      drv.deployStack(1001, deployment({ compose, contentHash: 'b'.repeat(64) })),
      (err) => {
        assert.ok(err instanceof DockerCommandFailed);
        assert.match(err.message, /^guest 1001: `docker compose up \(stack portainer\)` failed \(exit 1\): /);
        assert.match(err.message, /external volume "portainer_data2" not found$/);
        return true;
      },
    );
    assert.equal(file(`${DIR}/.phoenix-content`), `${'a'.repeat(64)}\n`);
    assert.equal((await drv.getStack(1001, 'portainer'))!.contentHash, 'a'.repeat(64));
  });

  test('env values never reach an argv, and are masked when compose repeats them in an error', async () => {
    const compose = `services:\n  app:\n    image: alpine\n    volumes:\n      - \${AGENT_SECRET}:/data\n`;
    await assert.rejects(drv.deployStack(1001, deployment({ name: 'leak', compose })), (err) => {
      assert.ok(err instanceof DockerCommandFailed);
      assert.match(err.message, /service "app" refers to undefined volume \*\*\*: invalid compose project/);
      assert.ok(!err.message.includes(AGENT_SECRET));
      return true;
    });
    const argvs = [...execArgvs(), ...docker.calls.map((c) => c.argv)];
    assert.ok(argvs.length > 10);
    for (const argv of argvs) assert.ok(!argv.join(' ').includes(AGENT_SECRET), argv.join(' '));
  });

  test('a value compose would not read back verbatim is refused before anything runs, without the value', async () => {
    const before = execArgvs().length;
    await assert.rejects(drv.deployStack(1001, deployment({ env: { PASS: "it's-s3cret" } })), (err) => {
      assert.match((err as Error).message, /stack portainer: the value of PASS cannot be written/);
      assert.ok(!(err as Error).message.includes('s3cret'));
      return true;
    });
    assert.equal(execArgvs().length, before);
  });

  test('env file values round-trip through compose verbatim: $, quotes, #, backslashes, spaces', () => {
    const env = {
      A: 'p$w${X}rd',
      B: 'say "hi" # not a comment',
      C: 'back\\slash\\\\n',
      D: '',
      E: '  padded ',
    };
    assert.deepEqual(parseDotenv(envFile({ name: 's', compose: '', env, contentHash: '' })), env);
  });

  test('an invalid project name is refused before any exec', async () => {
    const before = emu.requests.length;
    await assert.rejects(
      drv.deployStack(1001, deployment({ name: 'Portainer' })),
      /invalid compose project name/,
    );
    await assert.rejects(drv.deployStack(1001, deployment({ name: '-p' })), /invalid compose project name/);
    await assert.rejects(drv.getStack(1001, '../x'), /invalid compose project name/);
    assert.equal(emu.requests.length, before, 'not even the guest was looked up');
  });

  test('a stack Phoenix never deployed reads as undefined', async () => {
    assert.equal(await drv.getStack(1001, 'other'), undefined);
  });
});

describe('containers', () => {
  test('getContainer of an absent container is undefined', async () => {
    assert.equal(await drv.getContainer(1001, 'nothing'), undefined);
  });

  test('restart changes startedAt; a missing container is NotFoundError', async () => {
    const before = (await drv.getContainer(1001, 'portainer_server'))!;
    assert.equal(before.running, true);
    await drv.restartContainer(1001, 'portainer_server');
    const after = (await drv.getContainer(1001, 'portainer_server'))!;
    assert.equal(after.name, 'portainer_server');
    assert.equal(after.running, true);
    assert.ok(
      Date.parse(after.startedAt) > Date.parse(before.startedAt),
      `${after.startedAt} > ${before.startedAt}`,
    );
    await assert.rejects(drv.restartContainer(1001, 'nothing'), (err) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /container nothing on guest 1001/);
      return true;
    });
  });
});

describe('guests without a daemon to ask', () => {
  for (const [guest, what] of [
    [1999, 'does not exist'],
    [1002, 'is stopped'],
    [1003, 'has no Docker installed'],
  ] as const) {
    test(`a guest that ${what}: reads are empty`, async () => {
      assert.deepEqual(await drv.listVolumes(guest), []);
      assert.equal(await drv.getStack(guest, 'portainer'), undefined);
      assert.equal(await drv.getContainer(guest, 'portainer_server'), undefined);
    });
  }

  test('changes name the guest and why', async () => {
    await assert.rejects(drv.deployStack(1999, deployment()), NotFoundError);
    await assert.rejects(
      drv.createVolume(1002, { name: 'v', driver: 'local' }),
      /guest 1002 is stopped: cannot create volume v/,
    );
    await assert.rejects(drv.restartContainer(1003, 'x1'), /guest 1003: docker is not installed/);
  });
});
