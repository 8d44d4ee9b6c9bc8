import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPveEmulator, type PveEmulator } from '../emulators/pve-api/server.js';
import { PHOENIX_BIN, REPO_ROOT } from '../helpers/cli.js';

/**
 * `--driver proxmox` end to end through the CLI: the session reads the configuration's `proxmox` block,
 * takes the API token from the environment, pins the node certificate by fingerprint and talks to the
 * REST emulator. Only the API is needed for `status` (no pct, no SSH).
 */

const TOKEN_ID = 'phoenix@pve!sync';
const SECRET = randomUUID();

async function configFor(emu: PveEmulator, fingerprint: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-pve-cli-'));
  await cp(join(REPO_ROOT, 'examples/homelab'), dir, { recursive: true });
  const path = join(dir, 'phoenix_hypervisor_config.json');
  const hv = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  hv.target = 'proxmox';
  hv.proxmox = {
    transport: 'api',
    host: emu.host,
    api: { port: emu.port, token_id: TOKEN_ID, token_secret: 'env:PHOENIX_TEST_PVE_TOKEN', fingerprint },
  };
  await writeFile(path, JSON.stringify(hv, null, 2));
  return dir;
}

function phoenix(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [PHOENIX_BIN, ...args],
      { env: { ...process.env, NO_COLOR: '1', PHOENIX_CONFIG_DIR: '', PHOENIX_STATE_DIR: '', ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

test('status over the REST API: the token from the environment, the certificate pinned; a wrong pin sends nothing', async (t) => {
  const emu = await startPveEmulator({ nodes: ['pve'] });
  t.after(() => emu.close());
  emu.tokens.set(TOKEN_ID, SECRET);
  emu.model.addGuest({
    vmid: 101,
    type: 'lxc',
    node: 'pve',
    config: { hostname: 'Nginx-Phoenix', memory: '2048', unprivileged: '1' },
  });
  const state = await mkdtemp(join(tmpdir(), 'phoenix-pve-state-'));
  const good = await configFor(emu, emu.tls.fingerprint);
  t.after(() => Promise.all([state, good].map((d) => rm(d, { recursive: true, force: true }))));

  const ok = await phoenix(['--config-dir', good, 'status', '--state-dir', state, '--json'], {
    PHOENIX_TEST_PVE_TOKEN: SECRET,
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stdout + ok.stderr, new RegExp(SECRET), 'the token is never printed');
  const guests = JSON.parse(ok.stdout) as Array<{ id: number; status: string; drift?: string }>;
  assert.equal(guests.find((g) => g.id === 101)?.status, 'stopped');
  assert.match(guests.find((g) => g.id === 101)?.drift ?? '', /memory/, 'drift read from the node config');
  assert.equal(guests.find((g) => g.id === 102)?.status, 'missing');
  assert.ok(emu.requests.some((r) => r.path.includes('/cluster/resources')));
  assert.equal(emu.mutatingRequests().length, 0, 'status changes nothing');

  const noToken = await phoenix(['--config-dir', good, 'status', '--state-dir', state], {});
  assert.notEqual(noToken.code, 0);
  assert.match(noToken.stderr, /PHOENIX_TEST_PVE_TOKEN is not set/);

  const before = emu.requests.length;
  const wrong = await configFor(emu, Array.from({ length: 32 }, () => 'AB').join(':'));
  t.after(() => rm(wrong, { recursive: true, force: true }));
  const pinned = await phoenix(['--config-dir', wrong, 'status', '--state-dir', state], {
    PHOENIX_TEST_PVE_TOKEN: SECRET,
  });
  assert.notEqual(pinned.code, 0);
  assert.match(pinned.stderr, /fingerprint/i);
  assert.equal(emu.requests.length, before, 'nothing reached the API with a wrong pin');
});
