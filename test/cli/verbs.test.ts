import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMemoryDrivers } from '../../src/drivers/memory/index.js';
import { phoenix, type CliResult } from '../helpers/cli.js';

/** The guest verbs and `status` end to end: the real CLI on the example, against the memory driver. */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

type Run = (...args: string[]) => CliResult;

interface StatusRow {
  id: number;
  kind: string;
  name: string;
  declared: boolean;
  exists: boolean;
  status: string;
  template: boolean;
  drift: string;
}

function withState(fn: (run: Run, state: string) => Promise<void> | void) {
  return async () => {
    const state = mkdtempSync(join(tmpdir(), 'phoenix-cli-verbs-'));
    try {
      await fn(
        (...a) => phoenix(['--config-dir', EXAMPLE, '--state-dir', state, '--driver', 'memory', ...a]),
        state,
      );
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  };
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r;
}

function statusOf(run: Run): Map<number, StatusRow> {
  const r = ok(run('status', '--json'), 'status --json');
  const rows = JSON.parse(r.stdout) as StatusRow[];
  return new Map(rows.map((row) => [row.id, row]));
}

function statuses(run: Run): Record<number, string> {
  return Object.fromEntries([...statusOf(run)].map(([id, row]) => [id, row.status]));
}

const DECLARED = [101, 102, 103, 900, 1001, 1002, 9000];

test(
  'status on a fresh host: exit 0, every declared LXC and VM listed as missing; read-only',
  withState((run, state) => {
    const r = ok(run('status'), 'status');
    assert.match(r.stdout, /^ID\s+KIND\s+NAME\s+STATUS\s+DRIFT$/m);
    assert.match(
      r.stdout,
      /^103\s+lxc\s+Step-CA\s+missing\s+container 103 does not exist; clone it from 900$/m,
    );
    assert.match(r.stdout, /^1001\s+vm\s+Portainer\s+missing\s+VM 1001 does not exist; clone it from 9000$/m);
    const rows = statusOf(run);
    assert.deepEqual([...rows.keys()], DECLARED);
    assert.ok([...rows.values()].every((row) => row.declared && !row.exists && row.status === 'missing'));
    assert.equal(existsSync(join(state, 'memory-world.json')), false, 'status created no world');
  }),
);

test(
  'LetsGo then status: exit 0; guests running, templates stopped and marked, no drift; status --json parses',
  withState((run) => {
    const go = ok(run('LetsGo'), 'LetsGo');
    assert.match(go.stdout, /phoenix LetsGo: 12 ok, 0 unchanged, 0 failed, 0 skipped/);
    // Started in boot order, VMs included.
    const starts = ['103', '101', '102', '1001', '1002'].map((id) =>
      go.stdout.indexOf(`ok      power/${id} `),
    );
    assert.ok(
      starts.every((i, n) => i >= 0 && (n === 0 || i > starts[n - 1]!)),
      `power actions in boot order:\n${go.stdout}`,
    );
    assert.doesNotMatch(go.stdout, /power\/900|power\/9000/);

    const table = ok(run('status'), 'status').stdout;
    for (const [id, kind, name] of [
      ['103', 'lxc', 'Step-CA'],
      ['101', 'lxc', 'Nginx-Phoenix'],
      ['102', 'lxc', 'Traefik-Internal'],
      ['1001', 'vm', 'Portainer'],
      ['1002', 'vm', 'drphoenix'],
    ]) {
      assert.match(
        table,
        new RegExp(`^${id}\\s+${kind}\\s+${name}\\s+running\\s*$`, 'm'),
        `${id} in:\n${table}`,
      );
    }
    assert.match(table, /^900\s+lxc\s+Copy-Base \(template\)\s+stopped\s*$/m);
    assert.match(table, /^9000\s+vm\s+ubuntu-2404-cloud-template \(template\)\s+stopped\s*$/m);

    const rows = statusOf(run);
    assert.deepEqual([...rows.keys()], DECLARED);
    for (const row of rows.values()) {
      assert.equal(row.exists, true, `${row.id} exists`);
      assert.equal(row.drift, '', `${row.id} has no drift`);
      assert.equal(row.status, row.template ? 'stopped' : 'running', `${row.id}`);
    }
    assert.deepEqual(
      [...rows.values()].filter((row) => row.template).map((row) => row.id),
      [900, 9000],
    );
    assert.equal(rows.get(1001)!.kind, 'vm');

    // A second LetsGo has nothing to do.
    assert.match(
      ok(run('LetsGo'), 'LetsGo again').stdout,
      /phoenix LetsGo: 0 ok, 12 unchanged, 0 failed, 0 skipped/,
    );
  }),
);

test(
  'status lists a guest the host has that the configuration does not declare',
  withState(async (run, state) => {
    const mem = createMemoryDrivers({ statePath: join(state, 'memory-world.json') });
    await mem.hypervisor.createGuest({
      id: 555,
      kind: 'vm',
      settings: { name: 'stray', onBoot: false, bootOrder: 0, bootDelaySeconds: 0 },
    });
    const table = ok(run('status'), 'status').stdout;
    assert.match(table, /^555\s+vm\s+stray \(undeclared\)\s+stopped\s+not in the configuration$/m);
    assert.deepEqual(statusOf(run).get(555), {
      id: 555,
      kind: 'vm',
      name: 'stray',
      declared: false,
      exists: true,
      status: 'stopped',
      template: false,
      drift: 'not in the configuration',
    });
    // Naming guests narrows the table to them.
    const one = JSON.parse(ok(run('status', '101', '--json'), 'status 101').stdout) as StatusRow[];
    assert.deepEqual(
      one.map((r) => r.id),
      [101],
    );
  }),
);

test(
  'delete 103 is refused (exit 2) naming its dependents; delete 103 --force deletes them first',
  withState((run) => {
    ok(run('LetsGo'), 'LetsGo');
    const refused = run('delete', '103');
    assert.equal(refused.status, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /refusing to delete/);
    assert.match(refused.stderr, /101 \(needs 103\)/);
    assert.match(refused.stderr, /102 \(needs 103\)/);
    assert.match(refused.stderr, /--force/);
    assert.equal(statuses(run)[103], 'running', 'nothing was deleted');

    const forced = ok(run('delete', '103', '--force'), 'delete --force');
    assert.match(forced.stdout, /5 ok, 0 unchanged, 0 failed, 0 skipped/);
    const done = (id: number) => {
      const i = forced.stdout.indexOf(`ok      removal/${id} `);
      assert.ok(i >= 0, `removal/${id} in:\n${forced.stdout}`);
      return i;
    };
    assert.ok(done(1002) < done(1001) && done(1001) < done(102) && done(102) < done(103), forced.stdout);
    assert.ok(done(101) < done(103), forced.stdout);
    const rows = statusOf(run);
    assert.deepEqual(
      DECLARED.filter((id) => rows.get(id)!.exists),
      [900, 9000],
    );
  }),
);

test(
  'start 900 and start 9000 are refused (exit 2): templates are never started',
  withState((run) => {
    ok(run('create', 'all'), 'create all');
    for (const id of ['900', '9000']) {
      const r = run('start', id);
      assert.equal(r.status, 2, `start ${id}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${id} is a template; templates are never started`));
    }
    const r = run('start', '101', '900');
    assert.equal(r.status, 2);
    assert.ok(
      Object.values(statuses(run)).every((s) => s === 'stopped'),
      'nothing was started',
    );
  }),
);

test(
  'stop 101 stops only 101: 103, which it depends on, keeps running',
  withState((run) => {
    ok(run('LetsGo'), 'LetsGo');
    ok(run('stop', '101'), 'stop 101');
    assert.deepEqual(statuses(run), {
      101: 'stopped',
      102: 'running',
      103: 'running',
      900: 'stopped',
      1001: 'running',
      1002: 'running',
      9000: 'stopped',
    });
    ok(run('restart', '102'), 'restart 102');
    assert.equal(statuses(run)[101], 'stopped', 'restart 102 did not touch 101');
    ok(run('start', '101'), 'start 101');
    assert.equal(statuses(run)[101], 'running');
  }),
);

test(
  'an undeclared guest id is a usage error (exit 2) for every verb, and changes nothing',
  withState((run, state) => {
    for (const verb of ['create', 'converge', 'start', 'stop', 'restart', 'delete']) {
      const r = run(verb, '4242');
      assert.equal(r.status, 2, `${verb} 4242: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`^phoenix ${verb}: guest 4242 is not declared in the configuration`, 'm'),
      );
    }
    assert.equal(existsSync(join(state, 'memory-world.json')), false);
  }),
);

test(
  'status with an undeclared guest id is a usage error (exit 2), not an internal error',
  withState((run) => {
    const r = run('status', '4242');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /guest 4242 is not declared/);
    assert.doesNotMatch(r.stderr, /internal error/);
  }),
);

test(
  'create 1002 --dry-run prints the plan and makes no change; create 1002 then makes exactly that chain, stopped',
  withState((run) => {
    const dry = ok(run('create', '1002', '--dry-run'), 'create --dry-run');
    for (const id of [900, 103, 102, 9000, 1001, 1002])
      assert.match(dry.stdout, new RegExp(`\\+ create\\s+guest/${id}\\s`));
    assert.doesNotMatch(dry.stdout, /guest\/101\b/);
    assert.match(dry.stdout, /^Plan: 6 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged\.$/m);
    assert.ok(
      Object.values(statuses(run)).every((s) => s === 'missing'),
      'the dry run created nothing',
    );

    ok(run('create', '1002'), 'create 1002');
    assert.deepEqual(statuses(run), {
      101: 'missing',
      102: 'stopped',
      103: 'stopped',
      900: 'stopped',
      1001: 'stopped',
      1002: 'stopped',
      9000: 'stopped',
    });
  }),
);
