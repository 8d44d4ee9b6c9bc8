import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { analyse } from '../../src/analyse.js';
import { executionOrder } from '../../src/graph/order.js';
import { writeSyntheticConfig } from '../../bench/synthetic.js';

/** Every file under `dir`, relative path → content. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-synthetic-test-'));
  return Promise.resolve()
    .then(() => fn(dir))
    .finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('a synthetic config of 50 guests validates with zero errors', async () => {
  await withTempDir(async (dir) => {
    const summary = writeSyntheticConfig(dir, { guests: 50, seed: 7 });
    assert.equal(summary.guests, 50);
    assert.equal(summary.certificates, 50);
    assert.equal(summary.stacks, 13, "12 application stacks and Portainer's own");
    assert.ok(summary.lxcs > summary.vms, 'mostly LXCs');
    assert.ok(summary.templates >= 2, 'some templates');

    const a = await analyse(dir);
    const errors = a.diagnostics.items.filter((d) => d.severity === 'error');
    assert.deepEqual(
      errors.map((d) => `${d.file}${d.pointer} ${d.code}: ${d.message}`),
      [],
      'the generated config has errors',
    );
    assert.ok(a.inventory && a.graph, 'analysis got as far as the graph');
    assert.equal(a.inventory.guests.size, 50);
    assert.equal(a.inventory.certificates.length, 50);
    assert.equal(a.inventory.stacks.size, 13);

    const nodes = a.graph.nodes;
    for (const id of a.inventory.guests.keys()) assert.ok(nodes.has(`guest/${id}`), `node for guest ${id}`);
    for (const c of a.inventory.certificates)
      assert.ok(nodes.has(`cert/${c.name}`), `node for certificate ${c.name}`);
    assert.equal([...nodes.values()].filter((n) => n.kind === 'guest').length, 50);
    assert.equal([...nodes.values()].filter((n) => n.kind === 'cert').length, 50);
    assert.ok(
      [...nodes.values()].some((n) => n.kind === 'restart'),
      'some certificate restarts a stack container',
    );
    assert.ok(
      [...nodes.values()].some((n) => n.kind === 'stack'),
      'stacks are deployed',
    );

    const order = executionOrder(a.graph);
    assert.equal(order.length, nodes.size, 'the execution order covers every node');
    assert.deepEqual(new Set(order), new Set(nodes.keys()));
    const position = new Map(order.map((id, i) => [id, i]));
    for (const n of nodes.values()) {
      for (const r of n.requires) assert.ok(position.get(r)! < position.get(n.id)!, `${r} before ${n.id}`);
    }
  });
});

test('generation is deterministic: same seed, identical files; another seed, different files', async () => {
  await withTempDir((root) => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => join(root, n)) as [string, string, string];
    writeSyntheticConfig(a, { guests: 50, seed: 42 });
    writeSyntheticConfig(b, { guests: 50, seed: 42 });
    writeSyntheticConfig(c, { guests: 50, seed: 43 });
    const sa = snapshot(a);
    const sb = snapshot(b);
    assert.ok(sa.size > 4);
    assert.deepEqual([...sa.keys()], [...sb.keys()]);
    for (const [file, text] of sa)
      assert.equal(sb.get(file), text, `${file} differs between two runs with one seed`);
    const sc = snapshot(c);
    assert.ok(
      [...sa].some(([file, text]) => sc.get(file) !== text),
      'a different seed gives a different topology',
    );
  });
});

test('ids, addresses, MACs and names are unique; dependencies point at earlier guests', async () => {
  await withTempDir((dir) => {
    writeSyntheticConfig(dir, { guests: 300, seed: 3 });
    const lxc = JSON.parse(readFileSync(join(dir, 'phoenix_lxc_configs.json'), 'utf8')) as {
      lxc_configs: Record<
        string,
        { name: string; network_config: { ip: string }; mac_address: string; dependencies?: number[] }
      >;
    };
    const vm = JSON.parse(readFileSync(join(dir, 'phoenix_vm_configs.json'), 'utf8')) as {
      vms: Array<{
        vmid: number;
        name: string;
        network_config: { ip: string };
        mac_address?: string;
        dependencies?: number[];
      }>;
    };
    const all = [
      ...Object.entries(lxc.lxc_configs).map(([id, g]) => ({ id: Number(id), ...g })),
      ...vm.vms.map((g) => ({ id: g.vmid, ...g })),
    ];
    assert.equal(all.length, 300);
    const unique = (values: unknown[]) => new Set(values).size === values.length;
    assert.ok(unique(all.map((g) => g.id)), 'ids');
    assert.ok(unique(all.map((g) => g.name)), 'names');
    const statics = all.map((g) => g.network_config.ip).filter((ip) => ip !== 'dhcp');
    assert.ok(unique(statics), 'addresses');
    assert.ok(
      statics.every((ip) => /^10\.\d+\.\d+\.\d+\/8$/.test(ip)),
      'addresses in 10/8',
    );
    assert.ok(unique(all.map((g) => g.mac_address).filter(Boolean)), 'MACs');
    assert.ok(
      all.every((g) => (g.dependencies ?? []).every((d) => d < g.id)),
      'dependencies on earlier guests only',
    );
  });
});
