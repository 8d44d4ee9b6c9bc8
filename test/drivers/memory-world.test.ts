import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createCsr, generateKey } from '../../src/certs/x509.js';
import type { GuestSettings } from '../../src/drivers/hypervisor/types.js';
import { MemoryHypervisor, MemoryWorld, createMemoryDrivers } from '../../src/drivers/memory/index.js';
import type { WorldState } from '../../src/drivers/memory/index.js';

/**
 * Persistence of the memory world. The crash test runs this same file as a child process (selected by an
 * environment variable) that mutates a persisted world forever, kills it with SIGKILL at random moments,
 * and checks that the file always holds exactly the state after some whole number of operations.
 */

const CHILD_ENV = 'PHOENIX_MEMORY_CRASH_CHILD';
const SETTINGS: GuestSettings = { name: 'g', onBoot: true, bootOrder: 1, bootDelaySeconds: 0 };
const FILE = { owner: 'root', group: 'root', mode: 0o644 };
/** Big enough that most of a step's time is spent writing the file, where a kill is most dangerous. */
const BLOB_BYTES = 24 * 1024;

/** Operation k of a deterministic script; every step commits exactly one state change. */
async function step(hv: MemoryHypervisor, k: number): Promise<void> {
  const cycle = Math.floor(k / 7);
  const id = 300 + (cycle % 4);
  switch (k % 7) {
    case 0:
      return hv.createGuest({ id, kind: 'lxc', settings: { ...SETTINGS, name: `g${cycle}` } });
    case 1:
      return hv.startGuest(id);
    case 2:
      return hv.writeFile(id, '/etc/app.conf', new TextEncoder().encode(`cycle ${cycle}`), FILE);
    case 3:
      await hv.exec(id, ['systemctl', 'reload', 'app']);
      return;
    case 4:
      return hv.writeFile(
        'host',
        `/srv/blob-${cycle % 8}`,
        new Uint8Array(BLOB_BYTES).fill(cycle % 251),
        FILE,
      );
    case 5:
      return hv.stopGuest(id);
    default:
      return hv.deleteGuest(id);
  }
}

async function mutateForever(statePath: string): Promise<never> {
  const world = MemoryWorld.open(statePath);
  const hv = new MemoryHypervisor(world);
  process.stdout.write('ready\n');
  for (let k = world.operations; ; k++) await step(hv, k);
}

const childState = process.env[CHILD_ENV];
if (childState !== undefined) await mutateForever(childState);

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-world-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The file's text, or undefined before the first commit. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** JSON has no undefined and no prototypes: compare what would be written. */
const asWritten = (state: WorldState): unknown => JSON.parse(JSON.stringify(state));

test('a persisted world reopens with the same guests, files, services, Docker state and CA', async (t) => {
  const statePath = join(tempDir(t), 'world.json');
  const first = createMemoryDrivers({ statePath });
  await first.hypervisor.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
  await first.hypervisor.startGuest(1001);
  await first.hypervisor.writeFile(1001, '/etc/a', new Uint8Array([1, 2, 3]), {
    owner: 'www-data',
    group: 33,
    mode: 0o640,
  });
  await first.hypervisor.exec(1001, ['systemctl', 'reload', 'nginx']);
  await first.containers.createVolume(1001, { name: 'data_nfs', driver: 'nfs', server: '10.0.0.13' });
  const compose = 'services:\n  app:\n    image: x\n';
  await first.containers.deployStack(1001, { name: 'app', compose, env: {}, contentHash: 'h' });
  const rootPem = await first.issuer.roots();

  const second = createMemoryDrivers({ statePath });
  assert.deepEqual(asWritten(second.world.state), asWritten(first.world.state));
  assert.equal(second.world.operations, first.world.operations);
  assert.equal(await second.issuer.roots(), rootPem, 'the CA survives a restart');
  assert.deepEqual((await second.hypervisor.readFile(1001, '/etc/a'))?.attrs, {
    owner: 'www-data',
    group: 33,
    mode: 0o640,
  });

  const key = await generateKey('ecdsa-p256');
  const csrPem = await createCsr(key.keyPem, { commonName: 'a', dnsNames: ['a.example'], ipAddresses: [] });
  const issued = await second.issuer.issue({
    csrPem,
    commonName: 'a',
    dnsNames: ['a.example'],
    ipAddresses: [],
    usage: 'server',
  });
  assert.ok(new X509Certificate(issued.certPem).verify(new X509Certificate(rootPem).publicKey));
  assert.deepEqual(readdirSync(join(statePath, '..')), ['world.json'], 'no temp files are left behind');
});

test('a world without a path lives in memory only', async () => {
  const { hypervisor, world } = createMemoryDrivers();
  await hypervisor.writeFile('host', '/etc/x', new Uint8Array([1]), FILE);
  assert.equal(world.path, undefined);
  assert.equal(world.operations, 1);
});

test('a file that is not a memory world is refused', (t) => {
  const statePath = join(tempDir(t), 'other.json');
  writeFileSync(statePath, JSON.stringify({ hello: 'world' }));
  assert.throws(() => MemoryWorld.open(statePath), /not a Phoenix memory world/);
});

test('temp files of dead processes are removed when the world is opened', (t) => {
  const dir = tempDir(t);
  const statePath = join(dir, 'world.json');
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  writeFileSync(`${statePath}.tmp-${dead}`, '{"torn":');
  MemoryWorld.open(statePath);
  assert.deepEqual(readdirSync(dir), []);
});

test('SIGKILL at random moments always leaves a whole state, never a torn one', async (t) => {
  const statePath = join(tempDir(t), 'world.json');
  const replay = MemoryWorld.open();
  const replayHv = new MemoryHypervisor(replay);
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: statePath };
  delete env.NODE_TEST_CONTEXT;
  const self = fileURLToPath(import.meta.url);
  let lastOperations = 0;
  for (let iteration = 0; iteration < 20; iteration++) {
    const child = spawn(process.execPath, [self], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    for await (const chunk of child.stdout) if (String(chunk).includes('ready')) break;
    await sleep(Math.floor(Math.random() * 40));
    child.kill('SIGKILL');
    const [, signal] = await exited;
    assert.equal(signal, 'SIGKILL', 'the child was still mutating when it was killed');

    const text = readText(statePath);
    if (text === undefined) {
      assert.equal(lastOperations, 0, 'the state file never disappears once written');
      continue;
    }
    const persisted = JSON.parse(text) as WorldState;
    assert.ok(persisted.operations >= lastOperations, 'a commit is never lost');
    while (replay.operations < persisted.operations) await step(replayHv, replay.operations);
    assert.deepEqual(persisted, asWritten(replay.state), `state after ${persisted.operations} operations`);
    lastOperations = persisted.operations;
  }
  assert.ok(lastOperations > 20, `the children made progress (${lastOperations} operations)`);
});
