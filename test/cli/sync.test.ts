import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memorySyncArgs, phoenix, spawnPhoenix } from '../helpers/cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

function withState(
  fn: (state: string, run: (...a: string[]) => ReturnType<typeof phoenix>) => Promise<void> | void,
) {
  return async () => {
    const state = mkdtempSync(join(tmpdir(), 'phoenix-cli-'));
    try {
      await fn(state, (...a) =>
        phoenix(['--config-dir', EXAMPLE, '--state-dir', state, '--driver', 'memory', ...a]),
      );
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  };
}

test(
  'plan and sync --dry-run change nothing; sync does the work; a second sync does nothing',
  withState((state, run) => {
    const plan = run('plan');
    assert.equal(plan.status, 0, plan.stderr);
    assert.match(plan.stdout, /\+ create +guest\/103 +container 103 does not exist; clone it from 900/);
    assert.match(
      plan.stdout,
      /^Plan: \d+ to create, \d+ to update, 0 to replace, 0 to delete, \d+ unchanged\.$/m,
    );
    const dry = run('sync', 'all', '--dry-run');
    assert.equal(dry.status, 0);
    assert.match(dry.stdout, /Dry run: nothing was changed/);
    assert.ok(
      !existsSync(join(state, 'memory-world.json')) ||
        !/"101"/.test(readFileSync(join(state, 'memory-world.json'), 'utf8')),
    );
    const sync = run('sync', 'all');
    assert.equal(sync.status, 0, sync.stdout + sync.stderr);
    assert.match(sync.stdout, /phoenix sync all: \d+ ok, \d+ unchanged, 0 failed, 0 skipped/);
    const again = run('sync', 'all');
    assert.match(again.stdout, /phoenix sync all: 0 ok, \d+ unchanged, 0 failed, 0 skipped/);
    assert.match(
      run('plan').stdout,
      /^Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, \d+ unchanged\.$/m,
    );
  }),
);

test(
  '--json prints one event per line; no private key or secret reaches the output or the journal',
  withState((state, run) => {
    const r = run('sync', 'all', '--json', '--verbose');
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    assert.equal(events[0]!.type, 'run-start');
    assert.equal(events.at(-1)!.type, 'run-end');
    assert.ok(events.some((e) => e.type === 'driver-call'));
    const journal = readFileSync(join(state, 'journal.sqlite'));
    for (const text of [r.stdout, r.stderr, journal.toString('latin1')]) {
      assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE/);
    }
    // The store holds keys 0600 in 0700 directories.
    const certs = join(state, 'certs');
    for (const name of readdirSync(certs)) {
      assert.equal((readdirSync(join(certs, name)).includes('key.pem') ? 0o600 : 0) & 0o777, 0o600);
    }
  }),
);

test(
  'a second concurrent sync is refused at once, naming the holder; the first completes undisturbed',
  withState(async (state, run) => {
    const first = spawnPhoenix(memorySyncArgs(EXAMPLE, state, 20));
    const exited = new Promise<number | null>((resolve) => first.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !existsSync(join(state, 'phoenix.lock')); i++)
      await new Promise((r) => setTimeout(r, 25));
    assert.ok(existsSync(join(state, 'phoenix.lock')), 'the first sync holds the lock');
    const second = run('sync', 'all');
    assert.equal(second.status, 1);
    assert.match(
      second.stderr,
      new RegExp(`another phoenix is running: pid ${first.pid}, \`phoenix sync all\`, started `),
    );
    assert.equal(await exited, 0);
    assert.match(run('sync', 'all').stdout, /: 0 ok, \d+ unchanged, 0 failed/);
  }),
);

test(
  'history lists runs and shows one with its actions',
  withState((_state, run) => {
    run('sync', 'all');
    const list = run('history');
    assert.equal(list.status, 0);
    assert.match(list.stdout, /phoenix sync all +ok/);
    const last = run('history', 'last');
    assert.match(last.stdout, /guest\/103 +create +ok/);
    assert.equal(run('history', 'nonexistent-run').status, 2);
  }),
);

test(
  'a saved plan applies exactly, and is refused once the world changed under it',
  withState((state, run) => {
    const planFile = join(state, 'plan.json');
    assert.equal(run('plan', '--out', planFile).status, 0);
    const applied = run('apply', planFile);
    assert.equal(applied.status, 0, applied.stdout + applied.stderr);
    const stale = run('apply', planFile);
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, /refusing to apply: what the plan observed has changed/);
  }),
);

test(
  'bad engine input is a usage error with exit 2',
  withState((_state, run) => {
    const r = run('sync', 'guest/4242');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown resource id\(s\): guest\/4242/);
    assert.equal(run('sync', 'all', '--concurrency', '0').status, 2);
    assert.equal(run('apply', '/nonexistent/plan.json').status, 2);
  }),
);

test(
  'Ctrl-C starts nothing new, lets running actions finish, and exits 130; the next sync completes',
  withState(async (state, run) => {
    const child = spawnPhoenix(memorySyncArgs(EXAMPLE, state, 30));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 400 && !/ start /.test(out); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.match(
      out,
      /interrupted \(SIGINT\): waiting for \d+ running actions? to finish; no new actions start/,
    );
    assert.match(out, /not started: the run was interrupted/);
    const history = run('history', 'last');
    assert.match(history.stdout, /interrupted/);
    const next = run('sync', 'all');
    assert.equal(next.status, 0, next.stdout);
  }),
);

test('a plaintext secret in the configuration never reaches output, logs or the journal', async () => {
  const { cpSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-secret-'));
  try {
    cpSync(EXAMPLE, join(dir, 'cfg'), { recursive: true });
    const hv = join(dir, 'cfg', 'phoenix_hypervisor_config.json');
    const secret = 'hunter2-Very-Secret-Value';
    const config = JSON.parse(readFileSync(hv, 'utf8')) as { portainer_api: Record<string, string> };
    config.portainer_api.admin_password = secret;
    writeFileSync(hv, JSON.stringify(config, null, 2));
    const run = (...a: string[]) =>
      phoenix([
        '--config-dir',
        join(dir, 'cfg'),
        '--state-dir',
        join(dir, 'state'),
        '--driver',
        'memory',
        ...a,
      ]);
    const results = [
      run('validate'),
      run('validate', '--json'),
      run('plan', '--json', '--verbose'),
      run('sync', 'all', '--json', '--verbose'),
      run('history', 'last', '--json'),
    ];
    assert.match(results[0]!.stderr, /warning secret\.plaintext at \/portainer_api\/admin_password/);
    for (const r of results) assert.ok(!(r.stdout + r.stderr).includes(secret), 'secret printed');
    assert.ok(!readFileSync(join(dir, 'state', 'journal.sqlite')).includes(secret), 'secret journalled');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  '`sync stack NAME to VMID` deploys that stack with what it needs and nothing else; wrong names are usage errors',
  withState((state, run) => {
    const one = run('sync', 'stack', 'qdrant_service', 'to', '1002', '--json');
    assert.equal(one.status, 0, one.stdout + one.stderr);
    const ended = one.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; id?: string; outcome?: string })
      .filter((e) => e.type === 'node-end');
    const ids = ended.map((e) => e.id);
    for (const needed of [
      'volume/1001:portainer_data_nfs',
      'stack/1001:portainer_service',
      'portainer/1001',
      'portainer-admin/1001',
      'portainer-agent/1002',
      'portainer-env/drphoenix',
      'volume/1002:qdrant_data_nfs',
      'stack/1002:qdrant_service',
    ]) {
      assert.ok(ids.includes(needed), `${needed} is part of the run`);
    }
    assert.ok(!ids.includes('stack/1002:thinkheads_ai_app'), 'another stack on the same VM is left alone');
    assert.ok(ended.every((e) => e.outcome === 'ok' || e.outcome === 'unchanged'));

    const wrongVm = run('sync', 'stack', 'qdrant_service', 'to', '1001');
    assert.equal(wrongVm.status, 2);
    assert.match(wrongVm.stderr, /VM 1001 does not deploy stack "qdrant_service".*deployed to 1002/);
    const unknown = run('sync', 'stack', 'nope');
    assert.equal(unknown.status, 2);
    assert.match(
      unknown.stderr,
      /no VM deploys a stack named "nope" \(stacks in docker_stacks: .*qdrant_service/,
    );
    const noVm = run('sync', 'stack', 'qdrant_service', 'to');
    assert.equal(noVm.status, 2);
    assert.match(noVm.stderr, /needs a VM id/);
    assert.match(run('sync', '--help').stdout, /phoenix sync stack qdrant_service to 1002/);
  }),
);
