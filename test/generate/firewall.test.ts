import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clusterFirewall,
  clusterFirewallModel,
  guestFirewall,
  guestFirewallModel,
  parseFirewallFile,
  type PveRule,
} from '../../src/generate/firewall.js';
import { assertGolden } from '../helpers/golden.js';
import { baseHypervisor, exampleInventory, fixtureInventory, lxc, meshLxc, vm } from './helpers.js';

const sameRule = (a: PveRule, b: PveRule) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
const sortKeys = (r: PveRule) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

test('the example topology gives the golden firewall files', async () => {
  const inv = await exampleInventory();
  assertGolden('generate/homelab.cluster.fw', clusterFirewall(inv));
  for (const id of [101, 102, 103, 1001, 1002])
    assertGolden(`generate/homelab.${id}.fw`, guestFirewall(inv, id)!);
});

test('templates, unknown guests and guests with the firewall off get no file', async () => {
  const inv = await exampleInventory();
  assert.equal(guestFirewall(inv, 900), undefined);
  assert.equal(guestFirewall(inv, 9000), undefined);
  assert.equal(guestFirewall(inv, 4242), undefined);
});

test('every generated file parses back to exactly its rule model', async () => {
  const inv = await exampleInventory();
  assert.deepStrictEqual(parseFirewallFile(clusterFirewall(inv)), clusterFirewallModel(inv));
  for (const id of inv.guests.keys()) {
    const text = guestFirewall(inv, id);
    if (text === undefined) continue;
    assert.deepStrictEqual(parseFirewallFile(text), guestFirewallModel(inv, id), `guest ${id}`);
  }
});

test('the cluster file holds the global rules only, and no rule is in both the cluster file and a guest file', async () => {
  const inv = await exampleInventory();
  const cluster = parseFirewallFile(clusterFirewall(inv));
  assert.deepEqual(cluster.options, { enable: '1', policy_in: 'DROP', policy_out: 'ACCEPT' });
  assert.equal(cluster.rules.length, inv.clusterFirewall.rules.length);
  for (const id of inv.guests.keys()) {
    const text = guestFirewall(inv, id);
    if (text === undefined) continue;
    const guest = parseFirewallFile(text);
    assert.deepEqual(guest.options, { enable: '1' });
    for (const r of guest.rules)
      assert.ok(!cluster.rules.some((c) => sameRule(c, r)), `guest ${id} repeats a cluster rule`);
  }
});

test("a VM's file carries the rules of the stacks deployed to it, after its own", async () => {
  const rules = parseFirewallFile(guestFirewall(await exampleInventory(), 1002)!).rules;
  assert.deepEqual(
    rules.map((r) => r.dport),
    ['9001', '9001', '9001', '6333', '6334', '8000'],
  );
  assert.deepEqual(rules[3], {
    direction: 'IN',
    action: 'ACCEPT',
    enabled: true,
    proto: 'tcp',
    dport: '6333',
    log: 'nolog',
    comment: 'Allow access to Qdrant HTTP API',
  });
});

const rule = (port: string, comment: string, extra: Record<string, unknown> = {}) => ({
  type: 'in',
  action: 'ACCEPT',
  proto: 'tcp',
  port,
  source: '10.0.0.0/24',
  comment,
  ...extra,
});

test('a rule is written once: repeats within a file and copies of a cluster rule are left out with a note', async () => {
  const inv = await fixtureInventory({
    hypervisor: {
      ...baseHypervisor(),
      firewall: {
        enabled: true,
        default_input_policy: 'DROP',
        global_firewall_rules: [rule('22', 'ssh'), rule('22', 'ssh again')],
      },
    },
    lxc: meshLxc(),
    vm: {
      vms: [
        vm(1005, 'app', '10.0.0.55', {
          firewall: {
            enabled: true,
            rules: [
              rule('22', 'ssh'),
              rule('80,443', 'web'),
              rule('443,80', 'web again'),
              rule('22', 'ssh from the guest'),
            ],
          },
          docker_stacks: ['web'],
        }),
      ],
    },
    stacks: {
      web: {
        config: {
          environments: {
            production: {
              firewall_rules: [
                rule('80,443', 'web from the stack'),
                rule('8080', 'admin', { enabled: false }),
              ],
            },
          },
        },
        compose: 'services:\n  web:\n    image: nginx\n',
      },
    },
  });
  const cluster = clusterFirewall(inv);
  assert.equal(parseFirewallFile(cluster).rules.length, 1);
  assert.match(
    cluster,
    /# omitted, repeats a rule of global rules: IN ACCEPT -source 10\.0\.0\.0\/24 -p tcp -dport 22 -log nolog # ssh again/,
  );
  const text = guestFirewall(inv, 1005)!;
  assert.deepEqual(
    parseFirewallFile(text).rules.map((r) => `${r.enabled ? '' : '|'}${r.dport} ${r.comment}`),
    ['80,443 web', '22 ssh from the guest', '|8080 admin'],
  );
  assert.match(text, /# omitted, identical to a cluster rule: IN ACCEPT .* -dport 22 -log nolog # ssh$/m);
  assert.match(text, /# omitted, repeats a rule of own rules of VM 1005 \(app\): .* # web from the stack$/m);
  assert.match(text, /^\|IN ACCEPT -source 10\.0\.0\.0\/24 -p tcp -dport 8080 -log nolog # admin$/m);
});

test('the parser reads what pve-firewall writes and refuses what Phoenix never writes', () => {
  const text = [
    '[OPTIONS]',
    'enable: 1',
    '',
    '[RULES]',
    '# a comment line',
    'OUT DROP -dest 10.0.0.0/8 -proto udp --dport 53:54 # no # DNS',
    '|IN REJECT -sport 1024:65535 -log info',
  ].join('\n');
  assert.deepStrictEqual(parseFirewallFile(text), {
    options: { enable: '1' },
    rules: [
      {
        direction: 'OUT',
        action: 'DROP',
        enabled: true,
        dest: '10.0.0.0/8',
        proto: 'udp',
        dport: '53:54',
        comment: 'no # DNS',
      },
      { direction: 'IN', action: 'REJECT', enabled: false, sport: '1024:65535', log: 'info' },
    ],
  });
  assert.throws(() => parseFirewallFile('[RULES]\nIN SSH(ACCEPT) -i net0'), /not a rule Phoenix writes/);
  assert.throws(() => parseFirewallFile('[IPSET management]\n10.0.0.1'), /unsupported section/);
  assert.throws(() => parseFirewallFile('[RULES]\nIN ACCEPT -iface net0'), /unknown or incomplete option/);
});

test('comments are one line, so a newline in the config cannot inject a rule', async () => {
  const inv = await fixtureInventory({
    hypervisor: {
      ...baseHypervisor(),
      firewall: { enabled: true, global_firewall_rules: [rule('22', 'ssh\nIN ACCEPT -p tcp -dport 1')] },
    },
    lxc: { lxc_configs: { ...meshLxc().lxc_configs, '104': lxc('x', '10.0.0.44') } },
  });
  const parsed = parseFirewallFile(clusterFirewall(inv));
  assert.equal(parsed.rules.length, 1);
  assert.equal(parsed.rules[0]!.comment, 'ssh IN ACCEPT -p tcp -dport 1');
});
