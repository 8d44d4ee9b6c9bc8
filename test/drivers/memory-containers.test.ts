import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MutationRefused, NotFoundError } from '../../src/drivers/errors.js';
import { readOnly } from '../../src/drivers/guard.js';
import { CONTAINER_MUTATIONS } from '../../src/drivers/containers/types.js';
import type { GuestSettings } from '../../src/drivers/hypervisor/types.js';
import { createMemoryDrivers } from '../../src/drivers/memory/index.js';

const SETTINGS: GuestSettings = { name: 'portainer', onBoot: true, bootOrder: 1, bootDelaySeconds: 0 };

/** The Portainer stack of the analysis: its data lives on an external NFS volume created elsewhere. */
const PORTAINER = `
services:
  portainer:
    image: portainer/portainer-ce:latest
    container_name: portainer_server
    restart: always
    volumes:
      - portainer_data:/data
volumes:
  portainer_data:
    external: true
    name: portainer_data_nfs
`;

async function vmWithDocker(now?: () => Date) {
  const memory = createMemoryDrivers(now ? { now } : {});
  await memory.hypervisor.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
  await memory.hypervisor.startGuest(1001);
  return memory;
}

test('a stack fails on a missing external volume and deploys once the volume exists (failure 2 of the RCA)', async () => {
  const { containers } = await vmWithDocker();
  const stack = { name: 'portainer', compose: PORTAINER, env: {}, contentHash: 'h1' };
  await assert.rejects(containers.deployStack(1001, stack), /external volume "portainer_data_nfs" not found/);
  assert.equal(await containers.getStack(1001, 'portainer'), undefined, 'a failed deploy records nothing');
  assert.equal(await containers.getContainer(1001, 'portainer_server'), undefined);

  await containers.createVolume(1001, {
    name: 'portainer_data_nfs',
    driver: 'nfs',
    server: '10.0.0.13',
    export: '/x',
  });
  await containers.deployStack(1001, stack);
  assert.deepEqual(await containers.getStack(1001, 'portainer'), {
    name: 'portainer',
    contentHash: 'h1',
    services: [{ name: 'portainer', container: 'portainer_server', running: true }],
  });
  assert.equal((await containers.getContainer(1001, 'portainer_server'))?.running, true);
});

test('an external volume on another guest does not count', async () => {
  const { hypervisor, containers } = await vmWithDocker();
  await hypervisor.createGuest({ id: 1002, kind: 'vm', settings: SETTINGS });
  await hypervisor.startGuest(1002);
  await containers.createVolume(1002, { name: 'portainer_data_nfs', driver: 'nfs' });
  await assert.rejects(
    containers.deployStack(1001, { name: 'portainer', compose: PORTAINER, env: {}, contentHash: 'h1' }),
    /external volume "portainer_data_nfs" not found/,
  );
});

test('containers are named <stack>-<service>-1 without container_name, and declared volumes are created', async () => {
  const { containers } = await vmWithDocker();
  const compose =
    'services:\n  qdrant:\n    image: qdrant/qdrant\n    volumes: ["storage:/qdrant/storage"]\nvolumes:\n  storage: {}\n';
  await containers.deployStack(1001, { name: 'qdrant_service', compose, env: {}, contentHash: 'h' });
  assert.equal((await containers.getContainer(1001, 'qdrant_service-qdrant-1'))?.running, true);
  assert.deepEqual(await containers.listVolumes(1001), [{ name: 'qdrant_service_storage', driver: 'local' }]);
});

test('compose variables are substituted from the stack environment', async () => {
  const { containers } = await vmWithDocker();
  const compose = 'services:\n  app:\n    image: x\n    container_name: ${NAME:-fallback}\n';
  await containers.deployStack(1001, { name: 'app', compose, env: { NAME: 'from_env' }, contentHash: 'h' });
  assert.ok(await containers.getContainer(1001, 'from_env'));
  assert.equal(await containers.getContainer(1001, 'fallback'), undefined);
});

test('a service using an undeclared volume, a bad project name and a taken container name are refused', async () => {
  const { containers } = await vmWithDocker();
  const undeclared = 'services:\n  app:\n    image: x\n    volumes: ["data:/data"]\n';
  await assert.rejects(
    containers.deployStack(1001, { name: 'app', compose: undeclared, env: {}, contentHash: 'h' }),
    /refers to undefined volume data/,
  );
  await assert.rejects(
    containers.deployStack(1001, { name: 'App', compose: 'services: {}\n', env: {}, contentHash: 'h' }),
    /invalid project name/,
  );
  const named = 'services:\n  app:\n    image: x\n    container_name: shared\n';
  await containers.deployStack(1001, { name: 'one', compose: named, env: {}, contentHash: 'h' });
  await assert.rejects(
    containers.deployStack(1001, { name: 'two', compose: named, env: {}, contentHash: 'h' }),
    /container name "\/shared" is already in use/,
  );
});

test('a redeploy keeps unchanged containers and recreates changed ones', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { containers } = await vmWithDocker(() => now);
  const compose = (tag: string) =>
    `services:\n  a:\n    image: a:1\n    container_name: a\n  b:\n    image: b:${tag}\n    container_name: b\n`;
  await containers.deployStack(1001, { name: 's', compose: compose('1'), env: {}, contentHash: 'h1' });
  const first = now.toISOString();
  now = new Date('2030-01-02T00:00:00Z');
  await containers.deployStack(1001, { name: 's', compose: compose('2'), env: {}, contentHash: 'h2' });
  assert.equal((await containers.getContainer(1001, 'a'))?.startedAt, first);
  assert.equal((await containers.getContainer(1001, 'b'))?.startedAt, now.toISOString());
  assert.equal((await containers.getStack(1001, 's'))?.contentHash, 'h2');
});

test('docker volume create: the same driver is success and keeps the first options, another driver fails', async () => {
  const { containers, world } = await vmWithDocker();
  await containers.createVolume(1001, { name: 'data', driver: 'nfs', server: '10.0.0.13', export: '/a' });
  const after = world.operations;
  await containers.createVolume(1001, { name: 'data', driver: 'nfs', server: '10.0.0.13', export: '/b' });
  assert.equal(world.operations, after, 'an existing volume is left as it is');
  assert.deepEqual(await containers.listVolumes(1001), [
    { name: 'data', driver: 'nfs', server: '10.0.0.13', export: '/a' },
  ]);
  await assert.rejects(
    containers.createVolume(1001, { name: 'data', driver: 'local' }),
    /already has volume 'data'/,
  );
  await assert.rejects(
    containers.createVolume(1001, { name: '-bad', driver: 'local' }),
    /invalid characters/,
  );
});

test('restarting a missing container is a not-found error with the daemon message', async () => {
  const { containers } = await vmWithDocker();
  await assert.rejects(
    containers.restartContainer(1001, 'portainer_server'),
    (err: unknown) =>
      err instanceof NotFoundError &&
      err.message === 'Error response from daemon: No such container: portainer_server',
  );
});

test('restarting a container updates its start time', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { containers } = await vmWithDocker(() => now);
  await containers.createVolume(1001, { name: 'portainer_data_nfs', driver: 'nfs' });
  await containers.deployStack(1001, { name: 'portainer', compose: PORTAINER, env: {}, contentHash: 'h' });
  now = new Date('2030-01-01T00:05:00Z');
  await containers.restartContainer(1001, 'portainer_server');
  assert.equal((await containers.getContainer(1001, 'portainer_server'))?.startedAt, now.toISOString());
});

test('changes need the guest to exist and run; reads of a guest not created yet see nothing', async () => {
  const { hypervisor, containers } = createMemoryDrivers();
  await assert.rejects(
    containers.createVolume(1001, { name: 'vol', driver: 'local' }),
    (e: unknown) => e instanceof NotFoundError,
  );
  assert.deepEqual(await containers.listVolumes(1001), []);
  assert.equal(await containers.getStack(1001, 'portainer'), undefined);
  await hypervisor.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
  await assert.rejects(
    containers.createVolume(1001, { name: 'vol', driver: 'local' }),
    /Cannot connect to the Docker daemon/,
  );
});

test('stopping the guest stops its containers; booting restarts those with a restart policy', async () => {
  const { hypervisor, containers } = await vmWithDocker();
  await containers.createVolume(1001, { name: 'portainer_data_nfs', driver: 'nfs' });
  await containers.deployStack(1001, { name: 'portainer', compose: PORTAINER, env: {}, contentHash: 'h' });
  await containers.deployStack(1001, {
    name: 'once',
    compose: 'services:\n  job:\n    image: x\n',
    env: {},
    contentHash: 'h',
  });
  await hypervisor.stopGuest(1001);
  assert.equal((await containers.getContainer(1001, 'portainer_server'))?.running, false);
  await hypervisor.startGuest(1001);
  assert.equal((await containers.getContainer(1001, 'portainer_server'))?.running, true);
  assert.equal((await containers.getContainer(1001, 'once-job-1'))?.running, false);
});

test('behind the read-only guard container mutations are refused and not counted', async () => {
  const { containers } = await vmWithDocker();
  const guarded = readOnly(containers, CONTAINER_MUTATIONS, 'containers');
  await assert.rejects(guarded.createVolume(1001, { name: 'vol', driver: 'local' }), MutationRefused);
  await assert.rejects(
    guarded.deployStack(1001, { name: 's', compose: '', env: {}, contentHash: 'h' }),
    MutationRefused,
  );
  await assert.rejects(guarded.restartContainer(1001, 'x'), MutationRefused);
  assert.deepEqual(await guarded.listVolumes(1001), []);
  assert.equal(containers.mutations, 0);
  await containers.createVolume(1001, { name: 'vol', driver: 'local' });
  assert.equal(containers.mutations, 1, 'the unguarded driver counts');
});
