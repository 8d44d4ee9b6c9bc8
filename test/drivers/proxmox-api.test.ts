import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { DeadlineExceeded, DriverError } from '../../src/drivers/errors.js';
import {
  AgentCommandFailed,
  ConcurrentChange,
  ConfigLocked,
  FILE_WRITE_CHUNK_BYTES,
  NodeOffline,
  PveApiClient,
  PveApiError,
  PveAuthError,
  PveTransportError,
  TaskFailed,
  VmidAllocator,
  VmidTaken,
  agentExec,
  agentExecChecked,
  agentReadFile,
  agentWriteFile,
  createGuest,
  encodeForm,
  errorFromResponse,
  fileWriteChunks,
  formatUpid,
  getGuestConfig,
  isVmidFree,
  listClusterGuests,
  listNodes,
  listSnapshots,
  nextIdHint,
  parseUpid,
  pveHttpsTransport,
  snapshotGuest,
  startGuest,
  updateGuestConfig,
  resizeDisk,
  cloneGuest,
  deleteGuest,
  stopGuest,
  templateGuest,
} from '../../src/drivers/proxmox/api/index.js';
import type { PveApiClientOptions, RetryEvent } from '../../src/drivers/proxmox/api/index.js';
import { createNodeTls } from '../emulators/pve-api/cert.js';
import { startPveEmulator } from '../emulators/pve-api/server.js';
import type { PveEmulator } from '../emulators/pve-api/server.js';

const TOKEN_ID = 'phoenix@pve!sync';
const SECRET = randomUUID();
const PASSWORD = `pw-${randomUUID()}`;

let emu: PveEmulator;

before(async () => {
  emu = await startPveEmulator({ nodes: ['pve', 'pve2'] });
  emu.tokens.set(TOKEN_ID, SECRET);
  emu.users.set('root@pam', PASSWORD);
  emu.model.addGuest({
    vmid: 101,
    type: 'lxc',
    node: 'pve',
    config: { hostname: 'gw', memory: '512', rootfs: 'local-lvm:vm-101-disk-0,size=8G' },
  });
  emu.model.addGuest({
    vmid: 201,
    type: 'qemu',
    node: 'pve2',
    status: 'running',
    config: { name: 'docker', memory: '4096', agent: '1' },
  });
  emu.model.addGuest({
    vmid: 300,
    type: 'qemu',
    node: 'pve',
    status: 'running',
    config: { name: 'agentvm', agent: '1' },
  });
});
after(() => emu.close());

function client(over: Partial<PveApiClientOptions> = {}): PveApiClient {
  return new PveApiClient({
    host: emu.host,
    port: emu.port,
    auth: { kind: 'token', tokenId: TOKEN_ID, secret: SECRET },
    trust: { fingerprint: emu.tls.fingerprint },
    retry: { attempts: 4, baseDelayMs: 5 },
    timeoutMs: 5000,
    ...over,
  });
}
const FAST = { pollMs: 5, maxPollMs: 20, timeoutMs: 5000 };
const lxc = (vmid: number, node = 'pve') => ({ node, type: 'lxc' as const, vmid });
const qemu = (vmid: number, node = 'pve') => ({ node, type: 'qemu' as const, vmid });

describe('authentication', () => {
  test('an API token is sent as PVEAPIToken=USER@REALM!TOKENID=SECRET and accepted', async () => {
    const nodes = await listNodes(client());
    assert.deepEqual(
      nodes.map((n) => n.node),
      ['pve', 'pve2'],
    );
    assert.equal(emu.requests.at(-1)!.auth, 'token');
  });

  test('a wrong secret is a PveAuthError (401) whose message does not contain any secret', async () => {
    const wrong = `wrong-${randomUUID()}`;
    const err = await listNodes(client({ auth: { kind: 'token', tokenId: TOKEN_ID, secret: wrong } })).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof PveAuthError, String(err));
    assert.equal(err.status, 401);
    assert.equal(err.retryable, false);
    assert.ok(!err.message.includes(wrong) && !err.message.includes(SECRET));
  });

  test('a malformed token id is refused before any request', () => {
    assert.throws(
      () => client({ auth: { kind: 'token', tokenId: 'phoenix-sync', secret: SECRET } }),
      /USER@REALM!TOKENID/,
    );
  });

  test('ticket auth logs in once, then sends the cookie, and the CSRF token on writes', async () => {
    const c = client({ auth: { kind: 'ticket', username: 'root@pam', password: PASSWORD } });
    const before = emu.requests.length;
    await listNodes(c);
    await snapshotGuest(c, lxc(101), 'viaticket', undefined, FAST);
    const seen = emu.requests.slice(before);
    assert.equal(seen.filter((r) => r.path === '/access/ticket').length, 1);
    assert.equal(seen.find((r) => r.path === '/access/ticket')!.params.password, '(redacted)');
    assert.ok(
      seen.filter((r) => r.path !== '/access/ticket').every((r) => r.auth === 'ticket' && r.status === 200),
    );
  });

  test('with a ticket, a write without the CSRF token is refused (401) while reads pass', async () => {
    const c = client({
      auth: { kind: 'ticket', username: 'root@pam', password: PASSWORD },
      transport: (req) => {
        const headers = { ...req.headers };
        delete headers.csrfpreventiontoken;
        return pveHttpsTransport({ ...req, headers });
      },
    });
    assert.equal((await listNodes(c)).length, 2);
    const err = await snapshotGuest(c, lxc(101), 'nocsrf', undefined, FAST).catch((e: unknown) => e);
    assert.ok(err instanceof PveAuthError, String(err));
    assert.match(err.message, /csrf/i);
    assert.ok(!(await listSnapshots(c, lxc(101))).some((s) => s.name === 'nocsrf'));
  });

  test('a wrong password is an auth error naming no password', async () => {
    const err = await listNodes(
      client({ auth: { kind: 'ticket', username: 'root@pam', password: 'nope-secret' } }),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof PveAuthError);
    assert.ok(!err.message.includes('nope-secret'));
  });
});

describe('TLS pinning', () => {
  test('the right fingerprint (any notation) connects', async () => {
    const hex = emu.tls.fingerprint.replace(/:/g, '').toLowerCase();
    assert.equal((await listNodes(client({ trust: { fingerprint: hex } }))).length, 2);
  });

  test('a wrong fingerprint fails naming both fingerprints, and no request reaches the server', async () => {
    const other = await createNodeTls();
    const before = emu.requests.length;
    const err = await listNodes(client({ trust: { fingerprint: other.fingerprint } })).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof PveTransportError, String(err));
    assert.equal(err.kind, 'fingerprint');
    assert.equal(err.retryable, false);
    assert.ok(err.message.includes(emu.tls.fingerprint), err.message);
    assert.ok(err.message.includes(other.fingerprint), err.message);
    assert.equal(emu.requests.length, before);
  });

  test("the node's CA verifies; another CA is a TLS error", async () => {
    assert.equal((await listNodes(client({ trust: { caPem: emu.tls.rootPem } }))).length, 2);
    const other = await createNodeTls();
    const err = await listNodes(client({ trust: { caPem: other.rootPem } })).catch((e: unknown) => e);
    assert.ok(err instanceof PveTransportError && err.kind === 'tls', String(err));
  });
});

describe('requests and errors', () => {
  test('form encoding: booleans 1/0, arrays repeated, undefined left out, values escaped', () => {
    assert.equal(
      encodeForm({
        a: true,
        b: false,
        n: 5,
        cmd: ['ls', '-l /x'],
        skip: undefined,
        net0: 'name=eth0,ip=10.0.0.5/24',
      }),
      'a=1&b=0&n=5&cmd=ls&cmd=-l+%2Fx&net0=name%3Deth0%2Cip%3D10.0.0.5%2F24',
    );
  });

  test('a create sends form fields that come back verbatim in the config', async () => {
    const net0 = 'name=eth0,bridge=vmbr0,ip=10.0.0.77/24,gw=10.0.0.1,hwaddr=BC:24:11:00:00:77';
    await createGuest(
      client(),
      lxc(177),
      { ostemplate: 'local:vztmpl/debian-12.tar.zst', hostname: 'ns', net0, unprivileged: true, memory: 256 },
      FAST,
    );
    const cfg = await getGuestConfig(client(), lxc(177));
    assert.equal(cfg.values.net0, net0);
    assert.equal(cfg.values.unprivileged, '1');
    assert.equal(cfg.values.memory, '256');
    assert.match(cfg.digest, /^[0-9a-f]{40}$/);
  });

  test("Proxmox's per-parameter errors (400) are in the typed error", async () => {
    const err = await client()
      .post('/nodes/pve/lxc', { vmid: 178 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof PveApiError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.reason, 'Parameter verification failed.');
    assert.match(err.paramErrors.ostemplate ?? '', /missing/);
    assert.match(err.message, /ostemplate: property is missing/);
  });

  test('classification of answers is pure and typed', () => {
    const lock = errorFromResponse(
      'PUT /x',
      500,
      "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
      '{"data":null}',
    );
    assert.ok(lock instanceof ConfigLocked && lock.retryable);
    assert.ok(
      errorFromResponse('GET /nodes/pve2/x', 595, 'No route to host', '{"data":null}', 'pve2') instanceof
        NodeOffline,
    );
    const taken = errorFromResponse(
      'GET /cluster/nextid',
      400,
      'Parameter verification failed.',
      '{"data":null,"errors":{"vmid":"VM 105 already exists"}}',
    );
    assert.ok(taken instanceof VmidTaken && taken.vmid === 105);
    assert.equal(errorFromResponse('GET /x', 500, 'boom', 'not json').retryable, false);
  });

  test('a refused connection is a retryable transport error, retried a bounded number of times', async () => {
    const closed = await startPveEmulator();
    const port = closed.port;
    await closed.close();
    const retries: RetryEvent[] = [];
    const err = await listNodes(
      client({ port, retry: { attempts: 3, baseDelayMs: 1 }, onRetry: (e) => retries.push(e) }),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof PveTransportError && err.kind === 'unreachable' && err.retryable, String(err));
    assert.equal(retries.length, 2);
  });

  test('a request that gets no answer in time is a timeout error', async () => {
    const err = await listNodes(
      client({
        transport: (req) =>
          new Promise((_, reject) =>
            setTimeout(() => reject(new PveTransportError(`${req.method}: no answer`, 'timeout', true)), 5),
          ),
        retry: { attempts: 1 },
      }),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof PveTransportError && err.kind === 'timeout');
  });
});

describe('tasks', () => {
  test('UPIDs parse (hex fields, empty id, token user) and malformed ones are refused', () => {
    const u = parseUpid('UPID:pve-2:0000A1B2:00C3D4E5:6650F00D:qmstart:101:phoenix@pve!sync:');
    assert.deepEqual(
      {
        node: u.node,
        pid: u.pid,
        pstart: u.pstart,
        starttime: u.starttime,
        type: u.type,
        id: u.id,
        user: u.user,
      },
      {
        node: 'pve-2',
        pid: 0xa1b2,
        pstart: 0xc3d4e5,
        starttime: 0x6650f00d,
        type: 'qmstart',
        id: '101',
        user: 'phoenix@pve!sync',
      },
    );
    assert.equal(parseUpid('UPID:pve:00000001:00000002:00000003:aptupdate::root@pam:').id, '');
    assert.throws(() => parseUpid('UPID:pve:1:2:3:qmstart:101:root@pam:'), /UPID/);
    assert.throws(() => parseUpid('UPID:pve:00000001:00000002:00000003:qmstart:101:root@pam'), /UPID/);
    const again = formatUpid({
      node: 'pve',
      pid: 7,
      pstart: 8,
      starttime: 9,
      type: 'vzstart',
      id: '5',
      user: 'root@pam',
    });
    assert.equal(parseUpid(again).pid, 7);
  });

  test('a task is polled until stopped and its OK exit status accepted', async () => {
    emu.model.taskPolls = 3;
    try {
      const before = emu.requests.length;
      const result = await startGuest(client(), lxc(101), FAST);
      assert.equal(result?.exitstatus, 'OK');
      assert.equal(result?.upid.type, 'vzstart');
      const polls = emu.requests
        .slice(before)
        .filter((r) => r.path.endsWith('/status') && r.path.includes('/tasks/'));
      assert.equal(polls.length, 4); // three "running", one "stopped"
      assert.equal(emu.model.guests.get(101)!.status, 'running');
      await stopGuest(client(), lxc(101), FAST);
    } finally {
      emu.model.taskPolls = 1;
    }
  });

  test('a failed task throws TaskFailed with its exit status and the tail of its log', async () => {
    const log = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    emu.model.taskFaults.push({
      type: 'vzstart',
      vmid: 101,
      exitstatus: "command 'lxc-start -n 101' failed: exit code 1",
      log,
    });
    const err = await startGuest(client(), lxc(101), { ...FAST, logTailLines: 5 }).catch((e: unknown) => e);
    assert.ok(err instanceof TaskFailed, String(err));
    assert.equal(err.exitStatus, "command 'lxc-start -n 101' failed: exit code 1");
    assert.deepEqual(err.logTail, [
      'line 27',
      'line 28',
      'line 29',
      'line 30',
      "TASK ERROR: command 'lxc-start -n 101' failed: exit code 1",
    ]);
    assert.match(err.message, /line 30/);
    assert.equal(emu.model.guests.get(101)!.status, 'stopped');
  });

  test('a task that does not stop hits the deadline; an abort stops the wait', async () => {
    emu.model.taskPolls = 1_000_000;
    try {
      const err = await snapshotGuest(client(), lxc(101), 'slow1', undefined, {
        ...FAST,
        timeoutMs: 80,
      }).catch((e: unknown) => e);
      assert.ok(err instanceof DeadlineExceeded, String(err));
      assert.match(err.message, /vzsnapshot 101 on pve/);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 30);
      const aborted = await snapshotGuest(client(), lxc(101), 'slow2', undefined, {
        ...FAST,
        signal: ac.signal,
      }).catch((e: unknown) => e);
      assert.ok(aborted instanceof Error && aborted.name === 'AbortError', String(aborted));
    } finally {
      emu.model.taskPolls = 1;
    }
  });
});

describe('guests', () => {
  test('a config lock timeout is retried and the write then succeeds', async () => {
    const c = client();
    const cfg = await getGuestConfig(c, lxc(101));
    emu.model.lockTimeouts.set(101, 2);
    const retries: RetryEvent[] = [];
    await updateGuestConfig(client({ onRetry: (e) => retries.push(e) }), lxc(101), {
      set: { memory: 1024 },
      digest: cfg.digest,
    });
    assert.equal(retries.length, 2);
    assert.ok(retries.every((r) => r.error instanceof ConfigLocked));
    assert.equal(emu.model.guests.get(101)!.config.memory, '1024');
  });

  test('a lock that outlasts the retries is a retryable ConfigLocked error', async () => {
    const cfg = await getGuestConfig(client(), lxc(101));
    emu.model.lockTimeouts.set(101, 10);
    try {
      const err = await updateGuestConfig(client({ retry: { attempts: 3, baseDelayMs: 1 } }), lxc(101), {
        set: { memory: 2048 },
        digest: cfg.digest,
      }).catch((e: unknown) => e);
      assert.ok(err instanceof ConfigLocked && err.retryable, String(err));
      assert.match(err.message, /lock-101\.conf|pve-config-101\.lock/);
      assert.equal(emu.model.guests.get(101)!.config.memory, '1024');
    } finally {
      emu.model.lockTimeouts.delete(101);
    }
  });

  test('a 595 for an offline node is NodeOffline; the guest is reported with status unknown', async () => {
    emu.model.nodes.get('pve2')!.status = 'offline';
    try {
      const err = await getGuestConfig(client(), qemu(201, 'pve2')).catch((e: unknown) => e);
      assert.ok(err instanceof NodeOffline, String(err));
      assert.equal(err.node, 'pve2');
      assert.equal(err.status, 595);
      const guests = await listClusterGuests(client());
      assert.deepEqual(
        guests.find((g) => g.vmid === 201),
        {
          vmid: 201,
          type: 'qemu',
          node: 'pve2',
          status: 'unknown',
          name: 'docker',
          template: false,
          maxmem: 4096 * 2 ** 20,
          mem: 0,
        },
      );
      assert.equal((await listNodes(client())).find((n) => n.node === 'pve2')!.status, 'offline');
    } finally {
      emu.model.nodes.get('pve2')!.status = 'online';
    }
  });

  test('a write with a stale digest is ConcurrentChange and overwrites nothing', async () => {
    const cfg = await getGuestConfig(client(), lxc(101));
    emu.model.touchConfig(101, 'memory', '768'); // someone else
    const err = await updateGuestConfig(client(), lxc(101), {
      set: { memory: 4096 },
      digest: cfg.digest,
    }).catch((e: unknown) => e);
    assert.ok(err instanceof ConcurrentChange, String(err));
    assert.equal(err.retryable, false);
    assert.equal(emu.model.guests.get(101)!.config.memory, '768');
    const fresh = await getGuestConfig(client(), lxc(101));
    await updateGuestConfig(client(), lxc(101), {
      set: { memory: 4096 },
      delete: ['swap'],
      digest: fresh.digest,
    });
    assert.equal((await getGuestConfig(client(), lxc(101))).values.memory, '4096');
  });

  test('lifecycle: clone from a snapshot, resize, template, delete — with the right task types', async () => {
    const c = client();
    await createGuest(
      c,
      qemu(400),
      { name: 'base', memory: 2048, scsi0: 'local-lvm:vm-400-disk-0,size=4G' },
      FAST,
    );
    await snapshotGuest(c, qemu(400), 'clean', 'fresh', FAST);
    assert.deepEqual(
      (await listSnapshots(c, qemu(400))).map((s) => s.name),
      ['clean'],
    );
    const r = await cloneGuest(
      c,
      qemu(400),
      { newid: 401, snapname: 'clean', name: 'web', full: true },
      FAST,
    );
    assert.equal(r?.upid.type, 'qmclone');
    await resizeDisk(c, qemu(401), { disk: 'scsi0', size: '+2G' }, FAST);
    assert.match(String((await getGuestConfig(c, qemu(401))).values.scsi0), /size=6G/);
    await assert.rejects(
      resizeDisk(c, qemu(401), { disk: 'scsi0', size: '1G' }, FAST),
      (e: unknown) => e instanceof TaskFailed && /shrinking/.test(e.message),
    );
    const t = await templateGuest(c, qemu(400), FAST);
    assert.equal(t?.upid.type, 'qmtemplate');
    assert.equal((await listClusterGuests(c)).find((g) => g.vmid === 400)!.template, true);
    await deleteGuest(c, qemu(401), { purge: true }, FAST);
    assert.equal(emu.model.guests.has(401), false);
  });

  test('read-only helpers send no mutating request', async () => {
    const before = emu.mutatingRequests().length;
    const c = client();
    await listClusterGuests(c);
    await listNodes(c);
    await getGuestConfig(c, lxc(101));
    await listSnapshots(c, lxc(101));
    await nextIdHint(c);
    await agentReadFile(c, { node: 'pve', vmid: 300 }, '/etc/hostname').catch(() => undefined);
    assert.equal(emu.mutatingRequests().length, before);
    await startGuest(c, lxc(101), FAST);
    await stopGuest(c, lxc(101), FAST);
    assert.equal(emu.mutatingRequests().length, before + 2);
  });
});

describe('VMIDs', () => {
  test('nextid is a hint only: a stale answer is skipped, concurrent allocations never collide', async () => {
    const c = client();
    emu.model.nextIdOverride = 101; // taken: nextid raced with another create
    try {
      assert.equal(await nextIdHint(c), 101);
      assert.equal(await isVmidFree(c, 101), false);
      const alloc = new VmidAllocator(c);
      const ids = await Promise.all([alloc.allocate(), alloc.allocate(), alloc.allocate()]);
      assert.equal(new Set(ids).size, 3);
      for (const id of ids) assert.ok(!emu.model.guests.has(id) && id > 101, `allocated ${id}`);
      assert.deepEqual([...alloc.pending].sort(), [...ids].sort());
    } finally {
      emu.model.nextIdOverride = undefined;
    }
  });

  test('creating a VMID that exists is VmidTaken', async () => {
    const err = await createGuest(
      client(),
      lxc(101),
      { ostemplate: 'local:vztmpl/debian-12.tar.zst' },
      FAST,
    ).catch((e: unknown) => e);
    assert.ok(err instanceof VmidTaken, String(err));
    assert.equal(err.vmid, 101);
  });
});

describe('guest agent', () => {
  const vm = { node: 'pve', vmid: 300 };

  test('exec returns the exit code; the checked variant fails on non-zero with stderr', async () => {
    const c = client();
    emu.model.execPolls = 2;
    try {
      assert.equal((await agentExec(c, vm, ['true'], FAST)).exitCode, 0);
      assert.equal((await agentExec(c, vm, ['false'], FAST)).exitCode, 1);
      emu.execHook = (_g, argv) =>
        argv[0] === 'nginx'
          ? { exitcode: 1, err: 'nginx: [emerg] cannot load certificate key\n' }
          : argv[0] === 'sleep'
            ? { signal: 9 }
            : undefined;
      const err = await agentExecChecked(c, vm, ['nginx', '-t'], FAST).catch((e: unknown) => e);
      assert.ok(err instanceof AgentCommandFailed, String(err));
      assert.equal(err.exitCode, 1);
      assert.match(err.message, /cannot load certificate key/);
      const killed = await agentExec(c, vm, ['sleep', '100'], FAST);
      assert.deepEqual([killed.exitCode, killed.signal], [137, 9]);
      assert.equal((await agentExecChecked(c, vm, ['echo', 'hi'], FAST)).stdout, 'hi\n');
    } finally {
      emu.execHook = undefined;
      emu.model.execPolls = 1;
    }
  });

  test('exec in a stopped VM is an API error, not a silent success', async () => {
    const err = await agentExec(client(), { node: 'pve', vmid: 400 }, ['true'], FAST).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof DriverError && /not running/.test(err.message), String(err));
  });

  test('chunking is pure: 45 KiB pieces, an empty file is one empty chunk', () => {
    assert.deepEqual(
      fileWriteChunks(new Uint8Array(100_000)).map((c) => c.length),
      [46080, 46080, 7840],
    );
    assert.deepEqual(
      fileWriteChunks(new Uint8Array(0)).map((c) => c.length),
      [0],
    );
  });

  test('a ~200 KiB binary file is written in chunks of at most 61440 characters and reads back identical', async () => {
    const c = client();
    const content = randomBytes(200 * 1024 + 123);
    const before = emu.requests.length;
    await agentWriteFile(c, vm, '/etc/phoenix/blob.bin', content, FAST);
    const writes = emu.requests.slice(before).filter((r) => r.path.endsWith('/agent/file-write'));
    assert.equal(writes.length, Math.ceil(content.length / FILE_WRITE_CHUNK_BYTES));
    assert.ok(writes.every((w) => String(w.params.content).length <= 61440 && w.params.encode === '0'));
    assert.ok(writes.every((w) => w.status === 200));
    assert.deepEqual(
      [...emu.model.guests.get(300)!.files.keys()].filter((f) => f.includes('phoenix-part')),
      [],
    );
    emu.fileReadPieceBytes = 64 * 1024; // force truncated reads, followed by offset
    try {
      const back = await agentReadFile(c, vm, '/etc/phoenix/blob.bin');
      assert.equal(back.length, content.length);
      assert.ok(back.equals(content));
    } finally {
      emu.fileReadPieceBytes = 16 * 1024 * 1024;
    }
    const small = Buffer.from('small file\n');
    await agentWriteFile(c, vm, '/etc/phoenix/small', small, FAST);
    assert.ok((await agentReadFile(c, vm, '/etc/phoenix/small')).equals(small));
  });

  test('a failing append reports the failure and leaves no part file behind', async () => {
    emu.execHook = (_g, argv) =>
      argv[0] === 'dd' ? { exitcode: 1, err: 'dd: error writing: No space left on device\n' } : undefined;
    try {
      const err = await agentWriteFile(client(), vm, '/srv/big', randomBytes(100_000), FAST).catch(
        (e: unknown) => e,
      );
      assert.ok(err instanceof AgentCommandFailed && /No space left/.test(err.message), String(err));
      assert.equal(emu.model.guests.get(300)!.files.has('/srv/big.phoenix-part'), false);
    } finally {
      emu.execHook = undefined;
    }
  });
});
