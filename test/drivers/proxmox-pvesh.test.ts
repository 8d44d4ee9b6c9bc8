import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverError } from '../../src/drivers/errors.js';
import {
  ConcurrentChange,
  ConfigLocked,
  NodeOffline,
  PveApiClient,
  PveApiError,
  PveAuthError,
  PveProtocolError,
  TaskFailed,
  VmidTaken,
  agentExec,
  agentReadFile,
  agentWriteFile,
  createGuest,
  deleteGuest,
  getGuestConfig,
  isUpid,
  isVmidFree,
  listClusterGuests,
  listNodes,
  startGuest,
  stopGuest,
  updateGuestConfig,
} from '../../src/drivers/proxmox/api/index.js';
import type { PveApi, RetryEvent } from '../../src/drivers/proxmox/api/index.js';
import {
  LocalRunner,
  Pvesh,
  PveshApi,
  parsePveshOutput,
  pveshError,
  pveshParamArgs,
  pveshPath,
} from '../../src/drivers/proxmox/cli/index.js';
import { startPveEmulator } from '../emulators/pve-api/server.js';
import type { PveEmulator } from '../emulators/pve-api/server.js';
import { installStandIn } from '../emulators/pve-cli/install.js';
import type { StandIn } from '../emulators/pve-cli/install.js';
import { SKIP_SSH, startSshd } from '../helpers/sshd.js';

/**
 * PveshApi (the Proxmox API over pvesh, locally or over SSH) against ONE emulated cluster shared with the
 * HTTPS client: the API emulator, and the pvesh stand-in in forwarding mode. The same helper calls must give
 * the same results and the same typed errors through every transport.
 */

const FAST = { pollMs: 5, maxPollMs: 20, timeoutMs: 10_000 };
const RETRY = { attempts: 4, baseDelayMs: 5 };
const lxc = (vmid: number, node = 'pve') => ({ node, type: 'lxc' as const, vmid });
const qemu = (vmid: number, node = 'pve') => ({ node, type: 'qemu' as const, vmid });

// ------------------------------------------------------------------------------------------------ pure

test('parameters become pvesh options: arrays repeated, booleans 1/0, undefined left out', () => {
  assert.deepEqual(
    pveshParamArgs({ command: ['ls', '-l', '--', ''], full: true, purge: false, memory: 512, x: undefined }),
    [
      '--command',
      'ls',
      '--command',
      '-l',
      '--command',
      '--',
      '--command',
      '',
      '--full',
      '1',
      '--purge',
      '0',
      '--memory',
      '512',
    ],
  );
  assert.deepEqual(pveshParamArgs(undefined), []);
  for (const key of ['output-format', 'quiet', 'noproxy', '--x', 'a b', ''])
    assert.throws(() => pveshParamArgs({ [key]: 'v' }), /invalid API parameter name/, key);
  assert.throws(() => pveshParamArgs({ memory: Number.NaN }), /finite/);
});

test('paths are decoded segment by segment as pvesh takes them literally; an encoded "/" is refused', () => {
  const upid = 'UPID:pve:00001001:00101001:66000000:vzstart:101:phoenix@pve!sync:';
  assert.equal(
    pveshPath(`/nodes/pve/tasks/${encodeURIComponent(upid)}/status`),
    `/nodes/pve/tasks/${upid}/status`,
  );
  for (const bad of ['nodes', '/nodes/../x', '/nodes/a%2Fb', '/nodes/%2E%2E/x', '/x?y=1', '/x y', '/%ZZ'])
    assert.throws(() => pveshPath(bad), /invalid API path/, bad);
});

test('output: JSON data, nothing for null, and a foreground task’s output before its UPID', () => {
  const upid = 'UPID:pve:00001001:00101001:66000000:qmstart:300:root@pam:';
  assert.deepEqual(parsePveshOutput('w', '{"a":[1,"x"]}\n'), { a: [1, 'x'] });
  assert.equal(parsePveshOutput('w', ''), null);
  assert.equal(parsePveshOutput('w', 'null\n'), null);
  assert.equal(parsePveshOutput('w', `generating cloud-init ISO\nTASK OK\n"${upid}"\n`), upid);
  // Only a UPID may follow other output: anything else is a protocol error, never guessed at.
  assert.throws(() => parsePveshOutput('w', 'some text\n{"a":1}\n'), PveProtocolError);
  assert.throws(() => parsePveshOutput('w', 'garbage'), PveProtocolError);
});

test('error output maps to the typed errors of the HTTPS client (Proxmox texts)', () => {
  const where = 'pvesh set /nodes/pve/qemu/101/config';
  const lock = pveshError(
    where,
    255,
    "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout\n",
  );
  assert.ok(lock instanceof ConfigLocked && lock.retryable && lock.status === 500);
  const digest = pveshError(
    where,
    255,
    'detected modified configuration - file changed by other user? Try again.\n',
  );
  assert.ok(digest instanceof ConcurrentChange && !digest.retryable);
  // Exception::stringify with code 400 plus the usage line CLIHandler appends.
  const param = pveshError(
    where,
    255,
    "400 Parameter verification failed.\nmemory: type check ('integer') failed - got 'x'\nfoo: property is not defined in schema and the schema does not allow additional properties\npvesh set <api_path> [OPTIONS] [FORMAT_OPTIONS]\n",
  );
  assert.ok(param instanceof PveApiError && !(param instanceof ConfigLocked));
  assert.equal(param.status, 400);
  assert.equal(param.reason, 'Parameter verification failed.');
  assert.deepEqual(param.paramErrors, {
    memory: "type check ('integer') failed - got 'x'",
    foo: 'property is not defined in schema and the schema does not allow additional properties',
  });
  const taken = pveshError(
    'pvesh get /cluster/nextid',
    255,
    '400 Parameter verification failed.\nvmid: VM 101 already exists\n',
  );
  assert.ok(taken instanceof VmidTaken && taken.vmid === 101);
  const offline = pveshError(
    'pvesh get /nodes/pve2/status',
    255,
    'proxy handler failed: ssh: connect to host 10.0.0.12 port 22: No route to host\n',
    'pve2',
  );
  assert.ok(offline instanceof NodeOffline && offline.node === 'pve2' && offline.status === 595);
  assert.equal(offline.reason, 'No route to host');
  // An error proxied from another node comes back as its last line: still classified by its text.
  const proxied = pveshError(
    where,
    255,
    "proxy handler failed: can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout\n",
  );
  assert.ok(proxied instanceof ConfigLocked);
  assert.equal(proxied.reason, "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout");
  assert.ok(
    pveshError(where, 255, '403 Permission check failed (/vms/101, VM.Config.Memory)\n') instanceof
      PveAuthError,
  );
  const noHandler = pveshError(
    'pvesh get /nodes/pve/nosuch',
    1,
    "No 'get' handler defined for '/nodes/pve/nosuch'\n",
  );
  assert.equal(noHandler.status, 501);
  // A node name that is not in the cluster: a plain die, 500 — as the API answers it, not NodeOffline.
  const lookup = pveshError(
    'pvesh get /nodes/nosuch/qemu',
    255,
    "hostname lookup 'nosuch' failed - failed to get address info for: nosuch: Name or service not known\n",
    'nosuch',
  );
  assert.ok(!(lookup instanceof NodeOffline) && lookup.status === 500);
  assert.match(pveshError(where, 3, '').message, /exited with 3 and no error message/);
});

// ------------------------------------------------------------------------------------- one cluster, 3 ways

const TOKEN_ID = 'phoenix@pve!sync';
const SECRET = randomUUID();
/** The stand-in's own token: a real pvesh runs as root@pam and needs none. */
const PVESH_TOKEN_ID = 'root@pam!pvesh';
const PVESH_SECRET = randomUUID();

describe('PveApiClient and PveshApi (local, SSH) on one emulated cluster', () => {
  let emu: PveEmulator;
  let standIn: StandIn;
  const cleanups: (() => Promise<void>)[] = [];
  const transports: { name: string; api: PveApi; retries: RetryEvent[] }[] = [];

  before(async () => {
    emu = await startPveEmulator({ nodes: ['pve', 'pve2'] });
    cleanups.push(() => emu.close());
    emu.tokens.set(TOKEN_ID, SECRET);
    emu.tokens.set(PVESH_TOKEN_ID, PVESH_SECRET);
    emu.model.addGuest({ vmid: 101, type: 'lxc', node: 'pve', config: { hostname: 'gw', memory: '512' } });
    emu.model.addGuest({
      vmid: 201,
      type: 'qemu',
      node: 'pve2',
      status: 'running',
      config: { name: 'docker', memory: '4096', agent: '1' },
    });
    const dir = await mkdtemp(join(tmpdir(), 'phoenix-pvesh-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    standIn = await installStandIn(join(dir, 'emu'), {}, 'pve', {
      forward: {
        url: `https://${emu.host}:${emu.port}`,
        tokenId: PVESH_TOKEN_ID,
        secret: PVESH_SECRET,
        caPem: emu.tls.rootPem,
      },
    });
    const add = (name: string, make: (onRetry: (e: RetryEvent) => void) => PveApi) => {
      const retries: RetryEvent[] = [];
      transports.push({ name, api: make((e) => retries.push(e)), retries });
    };
    add(
      'https',
      (onRetry) =>
        new PveApiClient({
          host: emu.host,
          port: emu.port,
          auth: { kind: 'token', tokenId: TOKEN_ID, secret: SECRET },
          trust: { caPem: emu.tls.rootPem },
          retry: RETRY,
          onRetry,
        }),
    );
    const path = `${standIn.binDir}:/usr/local/bin:/usr/bin:/bin`;
    const local = new LocalRunner({ env: { ...process.env, PATH: path } });
    add('pvesh local', (onRetry) => new PveshApi(new Pvesh(local), { retry: RETRY, onRetry }));
    if (!SKIP_SSH) {
      const sshd = await startSshd({ after: (fn) => cleanups.push(fn) }, { setEnv: { PATH: path } });
      const ssh = sshd.runner();
      add('pvesh ssh', (onRetry) => new PveshApi(new Pvesh(ssh), { retry: RETRY, onRetry }));
    }
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  /** Runs `f` through every transport and asserts that each gives what the HTTPS client gives. */
  async function same<T>(what: string, f: (api: PveApi) => Promise<T>): Promise<T> {
    const results: T[] = [];
    for (const t of transports) results.push(await f(t.api));
    for (const [i, r] of results.entries())
      assert.deepEqual(r, results[0], `${what}: ${transports[i]!.name}`);
    return results[0]!;
  }
  /** The parts of a typed error that must not depend on the transport (`where` names the transport). */
  const shape = (e: unknown) => {
    if (!(e instanceof DriverError)) throw e;
    return {
      name: e.name,
      retryable: e.retryable,
      ...(e instanceof PveApiError ? { status: e.status, reason: e.reason, paramErrors: e.paramErrors } : {}),
      ...(e instanceof NodeOffline ? { node: e.node } : {}),
      ...(e instanceof VmidTaken ? { vmid: e.vmid } : {}),
      ...(e instanceof TaskFailed ? { exitstatus: e.exitStatus, log: e.logTail } : {}),
    };
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => assert.fail('expected an error'),
      (e: unknown) => shape(e),
    );

  test('reads: cluster guests, nodes and configs are identical', async () => {
    assert.equal(transports.length, SKIP_SSH ? 2 : 3, 'HTTPS, local pvesh and (with sshd) pvesh over SSH');
    const guests = await same('listClusterGuests', (api) => listClusterGuests(api));
    assert.deepEqual(
      guests.map((g) => [g.vmid, g.type, g.node, g.status]),
      [
        [101, 'lxc', 'pve', 'stopped'],
        [201, 'qemu', 'pve2', 'running'],
      ],
    );
    const nodes = await same('listNodes', (api) => listNodes(api));
    assert.deepEqual(
      nodes.map((n) => n.node),
      ['pve', 'pve2'],
    );
    const cfg = await same('getGuestConfig', (api) => getGuestConfig(api, lxc(101)));
    assert.deepEqual(cfg.values, { hostname: 'gw', memory: '512' });
    await same('getGuestConfig qemu', (api) => getGuestConfig(api, qemu(201, 'pve2')));
    // pvesh was really used: every pvesh call is in the stand-in's log, and no argv holds a token.
    const log = (await standIn.readState()).log;
    assert.ok(
      log.some((argv) => argv.join(' ') === 'pvesh get /cluster/resources --type vm --output-format json'),
    );
    assert.ok(!JSON.stringify(log).includes(PVESH_SECRET) && !JSON.stringify(log).includes(SECRET));
    assert.equal((await stat(join(standIn.dir, 'forward.json'))).mode & 0o777, 0o600);
  });

  test('guest lifecycle: create, config with digest, stale digest, lock retries, start/stop, delete', async () => {
    const records: string[] = [];
    for (const [i, t] of transports.entries()) {
      const vmid = 4711 + i; // a number no status code or other field of the record contains
      const record = await lifecycle(t.api, vmid, t.retries);
      // Each transport worked on its own guest; with the VMID masked the records must be equal.
      records.push(
        JSON.stringify(record, (_k, v: unknown) =>
          v === vmid ? 'N' : typeof v === 'string' ? v.replaceAll(String(vmid), 'N') : v,
        ),
      );
      assert.equal(emu.model.guests.has(vmid), false, `${t.name}: guest ${vmid} deleted`);
    }
    for (const [i, r] of records.entries())
      assert.deepEqual(JSON.parse(r), JSON.parse(records[0]!), transports[i]!.name);
    const first = JSON.parse(records[0]!) as Record<string, unknown>;
    assert.deepEqual(first.create, { type: 'vzcreate', id: 'N', exitstatus: 'OK', warnings: 0 });
    // ostemplate is create-only: refused (paramError below), never stored; the API keeps values as text.
    assert.deepEqual(first.updated, { hostname: 'web', memory: '1024', cores: '2' });
    assert.deepEqual(first.stale, {
      name: 'ConcurrentChange',
      retryable: false,
      status: 500,
      reason: 'detected modified configuration - file changed by other user? Try again',
      paramErrors: {},
    });
    assert.equal((first.locked as { name: string; retryable: boolean }).name, 'ConfigLocked');
    assert.equal((first.locked as { retryable: boolean }).retryable, true);
    assert.equal(first.callerAttempts, 2);
    assert.equal(first.builtinRetries, 2);
    assert.deepEqual((first.paramError as { paramErrors: unknown }).paramErrors, {
      ostemplate: 'property is not defined in schema and the schema does not allow additional properties',
    });
    assert.deepEqual(first.states, ['stopped', 'running', 'stopped']);
    assert.equal((first.startTwice as { name: string }).name, 'TaskFailed');
    assert.equal((first.startTwice as { exitstatus: string }).exitstatus, 'CT N already running');
    assert.deepEqual(first.recreate, {
      name: 'VmidTaken',
      retryable: false,
      status: 500,
      reason: "unable to create CT N - CT N already exists on node 'pve'",
      paramErrors: {},
      vmid: 'N',
    });
    assert.deepEqual(first.free, [false, true]);
  });

  async function lifecycle(api: PveApi, vmid: number, retries: RetryEvent[]) {
    const g = lxc(vmid);
    const status = async () => (await listClusterGuests(api)).find((x) => x.vmid === vmid)?.status;
    const params = {
      ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
      hostname: 'web',
      memory: 512,
    };
    const created = (await createGuest(api, g, params, FAST))!;
    const cfg1 = await getGuestConfig(api, g);
    await updateGuestConfig(api, g, { set: { memory: 1024 }, digest: cfg1.digest });
    const stale = await failure(updateGuestConfig(api, g, { set: { memory: 2048 }, digest: cfg1.digest }));
    let cfg = await getGuestConfig(api, g);
    const paramError = await failure(
      updateGuestConfig(api, g, { set: { ostemplate: 'x' }, digest: cfg.digest }),
    );
    // A lock timeout: with retries off, the caller gets ConfigLocked and retries itself...
    emu.model.lockTimeouts.set(vmid, 1);
    let locked: unknown;
    let callerAttempts = 0;
    for (;;) {
      callerAttempts += 1;
      try {
        await updateGuestConfig(api, g, { set: { cores: 2 }, digest: cfg.digest }, { retry: false });
        break;
      } catch (e) {
        if (!(e instanceof ConfigLocked) || callerAttempts > 3) throw e;
        locked = shape(e);
      }
    }
    // ...and with the transport's own bounded retries it goes through after two timeouts.
    cfg = await getGuestConfig(api, g);
    emu.model.lockTimeouts.set(vmid, 2);
    const before = retries.length;
    await updateGuestConfig(api, g, { set: { cores: 2 }, digest: cfg.digest });
    const builtinRetries = retries.length - before;
    const updated = (await getGuestConfig(api, g)).values;
    const states = [await status()];
    const started = (await startGuest(api, g, FAST))!;
    states.push(await status());
    const startTwice = await failure(startGuest(api, g, FAST));
    await stopGuest(api, g, FAST);
    states.push(await status());
    const recreate = await failure(createGuest(api, g, params, FAST));
    const free = [await isVmidFree(api, vmid), await isVmidFree(api, vmid + 100)];
    const deleted = (await deleteGuest(api, g, { purge: true }, FAST))!;
    return {
      create: {
        type: created.upid.type,
        id: created.upid.id,
        exitstatus: created.exitstatus,
        warnings: created.warnings,
      },
      updated: {
        hostname: updated.hostname,
        memory: updated.memory,
        ostemplate: updated.ostemplate,
        cores: updated.cores,
      },
      stale,
      paramError,
      locked,
      callerAttempts,
      builtinRetries,
      states,
      started: started.upid.type,
      startTwice,
      recreate,
      free,
      deleted: [deleted.upid.type, deleted.exitstatus],
    };
  }

  test('async calls answer a UPID as over HTTPS; pvesh printed the foreground task output first', async () => {
    for (const t of transports) {
      const upid = await t.api.post('/nodes/pve2/qemu/201/status/stop');
      assert.ok(isUpid(upid), `${t.name}: ${String(upid)}`);
      assert.equal(await t.api.post('/nodes/pve2/qemu/201/status/start').then(isUpid), true);
    }
    const local = new LocalRunner({ env: { ...process.env, PATH: `${standIn.binDir}:${process.env.PATH}` } });
    const r = await local.run([
      'pvesh',
      'create',
      '/nodes/pve2/qemu/201/status/stop',
      '--output-format',
      'json',
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -1), ['TASK OK']);
    assert.ok(isUpid(JSON.parse(lines.at(-1)!)));
    await new PveshApi(new Pvesh(local)).post('/nodes/pve2/qemu/201/status/start');
  });

  test('guest agent: exec (argv array), file write and read on a VM', async () => {
    const vm = { node: 'pve2', vmid: 201 };
    const argv = ['echo', 'a b', "it's", '-n', '--', '$HOME', '`id`', ''];
    const result = await same('agentExec', (api) => agentExec(api, vm, argv, FAST));
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, `${argv.slice(1).join(' ')}\n`);
    const execs = emu.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/agent/exec'));
    assert.equal(execs.length, transports.length);
    for (const e of execs) assert.deepEqual(e.params.command, argv, 'the array arrived as the API array');
    const cat = await same('agentExec cat', (api) => agentExec(api, vm, ['cat'], { ...FAST, input: 'in\n' }));
    assert.equal(cat.stdout, 'in\n');
    const failed = await same('agentExec false', (api) => agentExec(api, vm, ['false'], FAST));
    assert.equal(failed.exitCode, 1);
    const missing = await same('agentExec nosuch', (api) => failure(agentExec(api, vm, ['nosuch'], FAST)));
    assert.equal(missing.status, 500);
    const content = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));
    for (const t of transports) {
      await agentWriteFile(t.api, vm, `/tmp/${t.name.replace(' ', '-')}`, content, {
        ...FAST,
        chunkBytes: 1024,
      });
    }
    for (const t of transports) {
      assert.deepEqual(await agentReadFile(t.api, vm, `/tmp/${t.name.replace(' ', '-')}`), content, t.name);
    }
  });

  test('an offline node is NodeOffline everywhere; an unknown node is not', async () => {
    const node = emu.model.nodes.get('pve2')!;
    node.status = 'offline';
    try {
      const e = await same('offline', (api) => failure(getGuestConfig(api, qemu(201, 'pve2'))));
      assert.deepEqual(e, {
        name: 'NodeOffline',
        retryable: false,
        status: 595,
        reason: 'No route to host',
        paramErrors: {},
        node: 'pve2',
      });
    } finally {
      node.status = 'online';
    }
    const unknown = await same('unknown node', (api) => failure(getGuestConfig(api, lxc(101, 'nosuch'))));
    assert.equal(unknown.name, 'PveApiError');
    assert.equal(unknown.status, 500);
    assert.match(String(unknown.reason), /^hostname lookup 'nosuch' failed/);
  });
});
