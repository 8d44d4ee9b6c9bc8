import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { TransportError } from '../../src/drivers/ca/trust.js';
import { MutationRefused } from '../../src/drivers/errors.js';
import {
  AdminInitTimeoutError,
  PortainerApiError,
  PortainerClient,
  PortainerTransportError,
  PortainerVerifyError,
  StackDeployError,
  checkAdmin,
  createSwarmStack,
  deployComposeStack,
  ensureAdmin,
  ensureAgentEnvironment,
  ensureVolume,
  findEnvironment,
  findStack,
  getSwarmId,
  observeComposeStack,
  portainerHttpsTransport,
  readStackFile,
} from '../../src/drivers/portainer/index.js';
import type { PortainerTransport } from '../../src/drivers/portainer/index.js';
import { startPortainerEmulator } from '../emulators/portainer/index.js';
import type { PortainerEmulator } from '../emulators/portainer/index.js';

/** Portainer driver contract tests against the emulator (test/emulators/portainer), all on 127.0.0.1. */

const PASSWORD = 'Admin-Secret-9f3c1e77d2';
const ADMIN = { username: 'admin', password: PASSWORD };

const QDRANT = `services:
  qdrant:
    image: qdrant/qdrant:latest
    restart: always
    volumes:
      - qdrant_data_nfs:/qdrant/storage
volumes:
  qdrant_data_nfs:
    external: true
`;
const APP = `services:
  app:
    image: thinkheads_ai_app:latest
    container_name: thinkheads_ai_app
    environment:
      - API_PORT=\${API_PORT}
  worker:
    image: thinkheads_ai_app:latest
    command: worker
`;

async function withEmulator(
  options: Parameters<typeof startPortainerEmulator>[0],
  body: (emu: PortainerEmulator) => Promise<void>,
): Promise<void> {
  const emu = await startPortainerEmulator(options);
  try {
    await body(emu);
  } finally {
    await emu.close();
  }
}

function client(
  emu: PortainerEmulator,
  extra: Partial<ConstructorParameters<typeof PortainerClient>[0]> = {},
) {
  return new PortainerClient({
    baseUrl: emu.url,
    caPem: emu.caPem,
    auth: { kind: 'password', ...ADMIN },
    timeoutMs: 2000,
    retryDelayMs: 5,
    ...extra,
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail('expected a rejection');
}

function assertNoSecret(emu: PortainerEmulator, ...things: unknown[]) {
  assert.ok(!JSON.stringify(emu.log).includes(PASSWORD), 'the request log holds the password');
  for (const thing of things) {
    assert.ok(
      !inspect(thing, { depth: 10, showHidden: true }).includes(PASSWORD),
      'an object shows the password',
    );
    if (thing instanceof Error) {
      assert.ok(!thing.message.includes(PASSWORD));
      assert.ok(!(thing.stack ?? '').includes(PASSWORD));
    }
  }
}

const agentEnvironment = (_emu: PortainerEmulator) => ({ name: 'drphoenix', host: '127.0.0.102' }) as const;

async function readyWithEnvironment(emu: PortainerEmulator) {
  const c = client(emu);
  const { environment } = await ensureAgentEnvironment(c, agentEnvironment(emu));
  return { c, endpointId: environment.Id };
}

// ---- admin ------------------------------------------------------------------------------------------------

test('admin: none → initialised once, from the status code (204/404), password never logged', async () => {
  await withEmulator({}, async (emu) => {
    const c = client(emu);
    assert.equal(await checkAdmin(c), 'none');
    assert.equal(await ensureAdmin(c, ADMIN), 'created');
    assert.deepEqual(emu.admin, ADMIN);
    assert.equal(await checkAdmin(c), 'exists');
    assert.equal(await ensureAdmin(c, ADMIN), 'existed');
    const inits = emu.log.filter((r) => r.path === '/api/users/admin/init');
    assert.equal(inits.length, 1, 'admin init is sent once');
    assert.deepEqual(inits[0]!.bodyKeys, ['Username', 'Password']);
    assert.equal(inits[0]!.contentType, 'application/json');
    // the JWT flow works with the password that was set
    assert.deepEqual(await findEnvironment(c, 'none-such'), undefined);
    assert.equal(c.authentications, 1);
    assertNoSecret(emu, c);
  });
});

test('admin: an existing admin is detected and no init is sent', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    assert.equal(
      await ensureAdmin(client(emu), { username: 'admin', password: 'other-password-123' }),
      'existed',
    );
    assert.equal(emu.log.filter((r) => r.method === 'POST').length, 0);
    assert.deepEqual(emu.admin, ADMIN);
  });
});

test('admin: the expired initialisation window gives a clear error that says what to do', async () => {
  await withEmulator({}, async (emu) => {
    emu.expireInitWindow();
    const err = await rejection(ensureAdmin(client(emu), ADMIN));
    assert.ok(err instanceof AdminInitTimeoutError, String(err));
    assert.match(err.message, /initialisation window/);
    assert.match(err.message, /[Rr]estart the Portainer server/);
    assert.equal(emu.admin, undefined);
    assert.equal(emu.log.at(-1)!.status, 303);
    assertNoSecret(emu, err);
  });
});

test('admin: a weak password is refused with Portainer message, without echoing it', async () => {
  await withEmulator({}, async (emu) => {
    const weak = 'short-9x';
    const err = await rejection(ensureAdmin(client(emu), { username: 'admin', password: weak }));
    assert.ok(err instanceof PortainerApiError);
    assert.equal(err.status, 400);
    assert.match(err.message, /Password does not meet the requirements/);
    assert.ok(!inspect(err).includes(weak));
  });
});

// ---- authentication ---------------------------------------------------------------------------------------

test('auth: a 401 on an expired JWT re-authenticates once; a second 401 fails', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu);
    await findEnvironment(c, 'x');
    assert.equal(c.authentications, 1);
    emu.revokeTokens();
    await findEnvironment(c, 'x');
    assert.equal(c.authentications, 2, 're-authenticated after the 401');
    const listCalls = emu.log.filter((r) => r.path.startsWith('/api/endpoints'));
    assert.deepEqual(
      listCalls.map((r) => r.status),
      [200, 401, 200],
    );

    emu.faults.push({
      kind: 'status',
      method: 'GET',
      path: /^\/api\/endpoints/,
      status: 401,
      message: 'Invalid JWT token',
      details: 'Unauthorized',
      times: 2,
    });
    const err = await rejection(findEnvironment(c, 'x'));
    assert.ok(err instanceof PortainerApiError);
    assert.equal(err.kind, 'unauthorized');
    assert.equal(err.status, 401);
    assert.equal(c.authentications, 3, 'exactly one re-authentication per call');
    assertNoSecret(emu, err, c);
  });
});

test('auth: wrong credentials → 422 "Invalid credentials", and the password is in no error or log', async () => {
  await withEmulator({ admin: { username: 'admin', password: 'a-different-password-1' } }, async (emu) => {
    const c = client(emu);
    const err = await rejection(findEnvironment(c, 'x'));
    assert.ok(err instanceof PortainerApiError);
    assert.equal(err.status, 422);
    assert.equal(err.apiMessage, 'Invalid credentials');
    assert.equal(err.details, 'Unauthorized');
    assert.match(err.message, /POST \/api\/auth answered 422: Invalid credentials/);
    assertNoSecret(emu, err, c);
  });
});

test('auth: an API key is sent as X-API-Key, and never re-authenticates', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    emu.apiKeys.add('ptr_key_abc');
    const c = client(emu, { auth: { kind: 'apiKey', key: 'ptr_key_abc' } });
    assert.equal(await findEnvironment(c, 'x'), undefined);
    assert.equal(emu.log.at(-1)!.auth, 'api-key');
    assert.equal(emu.log.filter((r) => r.path === '/api/auth').length, 0);
    emu.apiKeys.clear();
    const err = await rejection(findEnvironment(c, 'x'));
    assert.ok(err instanceof PortainerApiError && err.status === 401);
  });
});

test('transport: the server is verified against the pinned CA only', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const other = await startPortainerEmulator({ admin: ADMIN });
    try {
      const c = client(emu, { caPem: other.caPem, retries: 0 });
      const err = await rejection(findEnvironment(c, 'x'));
      assert.ok(err instanceof PortainerTransportError, String(err));
      assert.equal(err.failure, 'tls');
      assert.equal(emu.log.length, 0, 'nothing reached the handler');
    } finally {
      await other.close();
    }
  });
});

// ---- environments -----------------------------------------------------------------------------------------

test('environment: created with a form (not JSON), agent URL and TLS; found by name the second time', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu);
    emu.addEndpoint({ name: 'drphoenix-old', url: 'tcp://127.0.0.9:9001', type: 2 }); // a prefix-sharing name
    const first = await ensureAgentEnvironment(c, agentEnvironment(emu));
    assert.equal(first.created, true);
    assert.equal(first.environment.Name, 'drphoenix');
    assert.equal(first.environment.URL, 'tcp://127.0.0.102:9001');
    const creates = emu.log.filter((r) => r.method === 'POST' && r.path === '/api/endpoints');
    assert.equal(creates.length, 1);
    assert.equal(creates[0]!.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(creates[0]!.bodyKeys, [
      'Name',
      'EndpointCreationType',
      'URL',
      'GroupID',
      'TLS',
      'TLSSkipVerify',
      'TLSSkipClientVerify',
    ]);
    const stored = emu.endpoints.find((e) => e.Name === 'drphoenix')!;
    assert.equal(stored.Type, 2);
    assert.deepEqual(stored.TLSConfig, { TLS: true, TLSSkipVerify: true });

    const second = await ensureAgentEnvironment(c, agentEnvironment(emu));
    assert.equal(second.created, false);
    assert.equal(second.environment.Id, first.environment.Id);
    assert.equal(emu.endpoints.filter((e) => e.Name === 'drphoenix').length, 1, 'no duplicate');
    assert.equal(emu.log.filter((r) => r.method === 'POST' && r.path === '/api/endpoints').length, 1);
  });
});

test('environment: the JSON body the original sent is refused by the emulator (400), as by Portainer', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu);
    const err = await rejection(
      c.call('POST', '/api/endpoints', {
        json: { Name: 'drphoenix', EndpointCreationType: 2, URL: 'tcp://127.0.0.102:9001' },
      }),
    );
    assert.ok(err instanceof PortainerApiError);
    assert.equal(err.status, 400);
    assert.equal(err.details, 'Invalid environment name');
  });
});

test('environment: TLSSkipVerify=false uploads the CA as a multipart file part', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu);
    const spec = {
      name: 'verified',
      host: 'agent.internal.test',
      tlsSkipVerify: false,
      agentCaPem: emu.caPem,
    };
    const { environment } = await ensureAgentEnvironment(c, spec);
    const create = emu.log.find((r) => r.method === 'POST' && r.path === '/api/endpoints')!;
    assert.match(create.contentType ?? '', /^multipart\/form-data; boundary=/);
    assert.ok(create.bodyKeys.includes('TLSCACertFile'));
    assert.equal(emu.endpoints.find((e) => e.Id === environment.Id)!.TLSConfig.TLSSkipVerify, false);
  });
});

test('environment: an existing one pointing elsewhere is reported, not duplicated; 409 surfaces', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu);
    emu.addEndpoint({ name: 'drphoenix', url: 'tcp://127.0.0.55:9001', type: 2 });
    const err = await rejection(ensureAgentEnvironment(c, agentEnvironment(emu)));
    assert.ok(err instanceof PortainerVerifyError);
    assert.match(err.message, /URL is tcp:\/\/127\.0\.0\.55:9001, declared tcp:\/\/127\.0\.0\.102:9001/);
    assert.equal(emu.mutations().length, 0);
    emu.faults.push({
      kind: 'status',
      method: 'POST',
      path: '/api/endpoints',
      status: 409,
      message: 'Name is not unique',
      details: 'Name is not unique',
    });
    const conflict = await rejection(ensureAgentEnvironment(c, { name: 'fresh', host: '127.0.0.103' }));
    assert.ok(conflict instanceof PortainerApiError);
    assert.equal(conflict.kind, 'conflict');
    assert.match(conflict.message, /409: Name is not unique/);
  });
});

// ---- stacks -------------------------------------------------------------------------------------------------

test('stack: create, find, read back; same content → no update call; changed env → PUT', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const { c, endpointId } = await readyWithEnvironment(emu);
    const spec = { name: 'thinkheads_ai_app', endpointId, compose: APP, env: { API_PORT: '8000' } };
    const created = await deployComposeStack(c, spec);
    assert.equal(created.action, 'created');
    assert.deepEqual(
      created.services.map((s) => [s.service, s.running]),
      [
        ['app', true],
        ['worker', true],
      ],
    );
    const post = emu.log.find((r) => r.path.startsWith('/api/stacks/create/standalone/string'))!;
    assert.equal(post.path, `/api/stacks/create/standalone/string?endpointId=${endpointId}`);
    assert.deepEqual(post.bodyKeys, ['name', 'stackFileContent', 'env']);
    assert.equal(await readStackFile(c, created.stack.Id), APP);
    assert.equal((await findStack(c, 'thinkheads_ai_app', endpointId))?.Id, created.stack.Id);
    assert.equal(await findStack(c, 'thinkheads_ai', endpointId), undefined, 'exact name match only');

    const before = emu.mutations().length;
    const again = await deployComposeStack(c, spec);
    assert.equal(again.action, 'unchanged');
    assert.equal(emu.mutations().length, before, 'no call that changes anything');

    const updated = await deployComposeStack(c, { ...spec, env: { API_PORT: '8001' } });
    assert.equal(updated.action, 'updated');
    const put = emu.log.filter((r) => r.method === 'PUT');
    assert.equal(put.length, 1);
    assert.equal(put[0]!.path, `/api/stacks/${created.stack.Id}?endpointId=${endpointId}`);
    assert.deepEqual(put[0]!.bodyKeys, ['stackFileContent', 'env', 'prune', 'pullImage']);
    assert.deepEqual(emu.stacks[0]!.Env, [{ name: 'API_PORT', value: '8001' }]);
  });
});

test('stack: the compose volume must exist first (the analysis race) and the failure carries Portainer message', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const { c, endpointId } = await readyWithEnvironment(emu);
    const spec = { name: 'qdrant_service', endpointId, compose: QDRANT, env: {} };
    const err = await rejection(deployComposeStack(c, spec));
    assert.ok(err instanceof StackDeployError, String(err));
    assert.equal(err.apiError.status, 500);
    assert.match(err.message, /external volume "qdrant_data_nfs" not found/);
    assert.equal(emu.stacks.length, 0);

    await ensureVolume(c, endpointId, {
      name: 'qdrant_data_nfs',
      driver: 'nfs',
      server: '127.0.0.13',
      export: '/quickOS/vm-persistent-data/1002/qdrant',
    });
    const ok = await deployComposeStack(c, spec);
    assert.equal(ok.action, 'created');
  });
});

test('stack: a failed update that leaves it half-deployed is reported with Portainer message and what runs', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const { c, endpointId } = await readyWithEnvironment(emu);
    const spec = { name: 'thinkheads_ai_app', endpointId, compose: APP, env: { API_PORT: '8000' } };
    await deployComposeStack(c, spec);
    emu.failingServices.add('thinkheads_ai_app/worker');
    const changed = { ...spec, compose: `${APP}# v2\n` };
    const err = await rejection(deployComposeStack(c, changed));
    assert.ok(err instanceof StackDeployError, String(err));
    assert.match(
      err.message,
      /Portainer refused the deploy: .*500: failed to deploy a stack: compose up: container/,
    );
    assert.deepEqual(err.notRunning, ['worker']);
    assert.equal(err.newFileStored, true);
    assert.match(err.message, /half-deployed/);
    // the next run sees the stored file equal to the wanted one but a service down: it deploys again, not "unchanged"
    const again = await rejection(deployComposeStack(c, changed));
    assert.ok(again instanceof StackDeployError);
    assert.deepEqual(again.notRunning, ['worker']);
    emu.failingServices.clear();
    assert.equal((await deployComposeStack(c, changed)).action, 'updated');
  });
});

test('stack: a service that stopped after a deploy fails verification; a 422/500 fault surfaces as is', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const { c, endpointId } = await readyWithEnvironment(emu);
    const spec = { name: 'thinkheads_ai_app', endpointId, compose: APP, env: { API_PORT: '8000' } };
    await deployComposeStack(c, spec);
    emu.stopService(endpointId, 'thinkheads_ai_app', 'app');
    const observed = await observeComposeStack(c, spec);
    assert.equal(observed.contentMatches, true);
    assert.deepEqual(
      observed.services.filter((s) => !s.running).map((s) => s.service),
      ['app'],
    );
    emu.faults.push({
      kind: 'status',
      method: 'PUT',
      path: /^\/api\/stacks\/\d+/,
      status: 422,
      message: 'Invalid request payload',
      details: 'Invalid stack file content',
    });
    const err = await rejection(deployComposeStack(c, { ...spec, compose: `${APP}# v3\n` }));
    assert.ok(err instanceof StackDeployError);
    assert.equal(err.apiError.status, 422);
    assert.match(err.message, /422: Invalid request payload \(Invalid stack file content\)/);
    assert.equal(emu.log.filter((r) => r.method === 'PUT').length, 1, '422 is not retried');
  });
});

test('stack: a read-only client (plan / --dry-run) observes with GETs and refuses any mutation', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const { endpointId } = await readyWithEnvironment(emu);
    const logBefore = emu.mutations().length;
    const ro = client(emu, { readOnly: true });
    const spec = { name: 'thinkheads_ai_app', endpointId, compose: APP, env: { API_PORT: '8000' } };
    const observed = await observeComposeStack(ro, spec);
    assert.equal(observed.stack, undefined);
    const err = await rejection(deployComposeStack(ro, spec));
    assert.ok(err instanceof MutationRefused, String(err));
    await rejection(ensureVolume(ro, endpointId, { name: 'v1', driver: 'local' }));
    await rejection(ensureAgentEnvironment(ro, { name: 'new-env', host: '127.0.0.104' }));
    assert.equal(emu.mutations().length, logBefore, 'no mutating request reached the server');
  });
});

test('swarm: the swarm ID comes from the Docker proxy; the swarm stack is created with it', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu);
    const manager = emu.addEndpoint({
      name: 'swarm',
      url: 'tcp://127.0.0.120:9001',
      type: 2,
      swarmId: 'jpofkc0i9uo9wtx1zesuk649w',
    });
    const single = emu.addEndpoint({ name: 'single', url: 'tcp://127.0.0.121:9001', type: 2 });
    assert.equal(await getSwarmId(c, single.Id), undefined);
    const swarmId = await getSwarmId(c, manager.Id);
    assert.equal(swarmId, 'jpofkc0i9uo9wtx1zesuk649w');
    const stack = await createSwarmStack(c, {
      name: 'qdrant_service',
      endpointId: manager.Id,
      swarmId: swarmId!,
      compose: QDRANT,
      env: {},
    });
    assert.equal(stack.Type, 1);
    assert.equal(stack.SwarmId, swarmId);
    const post = emu.log.find((r) => r.path.startsWith('/api/stacks/create/swarm/string'))!;
    assert.deepEqual(post.bodyKeys, ['name', 'swarmID', 'stackFileContent', 'env']);
    assert.equal(await readStackFile(c, stack.Id), QDRANT);
  });
});

// ---- volumes ------------------------------------------------------------------------------------------------

test('volume: local and NFS created through the Docker proxy, found again, drift reported (never removed)', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const { c, endpointId } = await readyWithEnvironment(emu);
    const local = await ensureVolume(c, endpointId, { name: 'cache', driver: 'local' });
    assert.equal(local.created, true);
    const nfsSpec = {
      name: 'portainer_data_nfs',
      driver: 'nfs',
      server: '127.0.0.13',
      export: '/quickOS/vm-persistent-data/1001/portainer/data',
      options: 'rw,nfsvers=4',
    } as const;
    const nfs = await ensureVolume(c, endpointId, nfsSpec);
    assert.equal(nfs.created, true);
    const stored = emu.endpoints.find((e) => e.Id === endpointId)!.volumes.get('portainer_data_nfs')!;
    assert.equal(stored.Driver, 'local');
    assert.deepEqual(stored.Options, {
      type: 'nfs',
      o: 'addr=127.0.0.13,rw,nfsvers=4',
      device: ':/quickOS/vm-persistent-data/1001/portainer/data',
    });
    const creates = emu.mutations().filter((r) => r.path.endsWith('/docker/volumes/create'));
    assert.equal(creates.length, 2);
    assert.equal(creates[0]!.path, `/api/endpoints/${endpointId}/docker/volumes/create`);

    assert.equal((await ensureVolume(c, endpointId, nfsSpec)).created, false);
    assert.equal(
      emu.mutations().filter((r) => r.path.endsWith('/docker/volumes/create')).length,
      2,
      'found, not recreated',
    );

    const err = await rejection(ensureVolume(c, endpointId, { ...nfsSpec, export: '/elsewhere' }));
    assert.ok(err instanceof PortainerVerifyError);
    assert.match(
      err.message,
      /option device is ":\/quickOS\/vm-persistent-data\/1001\/portainer\/data", declared ":\/elsewhere"/,
    );
    assert.ok(emu.endpoints.find((e) => e.Id === endpointId)!.volumes.has('portainer_data_nfs'));

    await assert.rejects(
      ensureVolume(c, endpointId, {
        name: 'bad',
        driver: 'nfs',
        server: '127.0.0.13',
        export: '/x',
        options: 'rw addr=1',
      }),
      /invalid NFS mount options/,
    );
  });
});

// ---- retries --------------------------------------------------------------------------------------------------

test('retries: a slow GET times out and is retried; a slow POST is not repeated but marked retryable', async () => {
  await withEmulator({ admin: ADMIN }, async (emu) => {
    const c = client(emu, { timeoutMs: 300 });
    await findEnvironment(c, 'warm-up');
    emu.faults.push({ kind: 'slow', method: 'GET', path: /^\/api\/endpoints/, ms: 1000 });
    assert.equal(await findEnvironment(c, 'x'), undefined);
    assert.equal(emu.log.filter((r) => r.path.startsWith('/api/endpoints?name=x')).length, 2, 'one retry');

    emu.faults.push({ kind: 'slow', method: 'POST', path: '/api/endpoints', ms: 1000 });
    const err = await rejection(ensureAgentEnvironment(c, { name: 'slow', host: '127.0.0.105' }));
    assert.ok(err instanceof PortainerTransportError, String(err));
    assert.equal(err.failure, 'timeout');
    assert.equal(err.retryable, true);
    assert.equal(
      emu.log.filter((r) => r.method === 'POST' && r.path === '/api/endpoints').length,
      1,
      'not repeated',
    );
  });
});

test('retries: connection refused is retried (bounded) for every method; a 500 is never retried', async () => {
  const port = await new Promise<number>((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => ok(typeof a === 'object' && a ? a.port : 0));
    });
  });
  const attempts: string[] = [];
  const counting: PortainerTransport = (req) => {
    attempts.push(req.method);
    return portainerHttpsTransport(req);
  };
  const dead = new PortainerClient({
    baseUrl: `https://127.0.0.1:${port}`,
    caPem: 'unused',
    retries: 2,
    retryDelayMs: 1,
    transport: counting,
  });
  const err = await rejection(checkAdmin(dead));
  assert.ok(err instanceof PortainerTransportError);
  assert.equal(err.failure, 'unreachable');
  assert.equal(err.errorCode, 'ECONNREFUSED');
  assert.equal(err.retryable, true);
  assert.equal(attempts.length, 3, 'one try and two retries');
  assert.match(err.message, /after 3 attempts/);

  await withEmulator({ admin: ADMIN }, async (emu) => {
    // refused once, then the server answers: a POST is safe to repeat when it was never sent
    let refused = false;
    const flaky: PortainerTransport = (req) => {
      if (req.method === 'POST' && req.url.endsWith('/volumes/create') && !refused) {
        refused = true;
        return Promise.reject(
          new TransportError('POST /x: cannot connect (ECONNREFUSED)', 'unreachable', 'ECONNREFUSED'),
        );
      }
      return portainerHttpsTransport(req);
    };
    const c = client(emu, { transport: flaky });
    const { environment } = await ensureAgentEnvironment(c, agentEnvironment(emu));
    const made = await ensureVolume(c, environment.Id, { name: 'data', driver: 'local' });
    assert.equal(made.created, true);
    assert.ok(refused);

    emu.faults.push({
      kind: 'status',
      method: 'GET',
      path: /^\/api\/stacks/,
      status: 500,
      message: 'Unable to retrieve stacks from the database',
      details: 'Boom',
    });
    const failed = await rejection(findStack(c, 'x', environment.Id));
    assert.ok(failed instanceof PortainerApiError);
    assert.equal(failed.kind, 'server');
    assert.equal(failed.retryable, false);
    assert.equal(emu.log.filter((r) => r.path.startsWith('/api/stacks')).length, 1, 'not retried');
    assertNoSecret(emu, failed, c);
  });
});
