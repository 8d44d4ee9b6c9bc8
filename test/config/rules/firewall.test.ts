import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseHypervisor, baseLxc, find, lxc, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const rule = (port: string, comment: string, extra: Record<string, unknown> = {}) => ({
  type: 'in',
  action: 'ACCEPT',
  proto: 'tcp',
  port,
  source: '10.0.0.0/24',
  comment,
  ...extra,
});
const lxcWithRules = (rules: unknown[]) => ({
  lxc_configs: {
    ...baseLxc().lxc_configs,
    '102': lxc('traefik', '10.0.0.12', { firewall: { enabled: true, rules } }),
  },
});
const clusterRules = (rules: unknown[]) => ({
  ...baseHypervisor(),
  firewall: { enabled: true, default_input_policy: 'DROP', global_firewall_rules: rules },
});

test('rules that differ in what they allow pass', async () => {
  const a = await analyseFixture({
    lxc: lxcWithRules([rule('80', 'http'), rule('443', 'https'), rule('80', 'http out', { type: 'out' })]),
    hypervisor: clusterRules([rule('22', 'ssh'), rule('22', 'ssh udp', { proto: 'udp' })]),
  });
  assert.deepEqual(find(a, 'firewall.duplicate-rule'), []);
});

test('a guest rule repeating an earlier one but for its comment is a warning at the later one', async () => {
  const lxcFile = lxcWithRules([rule('22', 'ssh'), rule('80,443', 'web'), rule('443,80', 'web again')]);
  const a = await analyseFixture({ lxc: lxcFile });
  const d = only(a, 'firewall.duplicate-rule');
  assertAt(
    d,
    'warning',
    '/lxc_configs/102/firewall/rules/2',
    lineOf(lxcFile, '"type": "in"', 3) - 1 /* the rule's opening brace */,
  );
  assert.match(
    d.message,
    /^rule 2 of the firewall of LXC 102 "traefik" repeats rule 1 \(in ACCEPT tcp port 443,80 from 10\.0\.0\.0\/24\) except for its comment \("web again" vs "web"\)/,
  );
});

test('a repeated cluster rule is a warning in the hypervisor file', async () => {
  const hypervisor = clusterRules([rule('53', 'dns'), rule('53', 'dns')]);
  const a = await analyseFixture({ hypervisor });
  const d = only(a, 'firewall.duplicate-rule');
  assertAt(d, 'warning', '/firewall/global_firewall_rules/1');
  assert.match(d.message, /rule 1 of the cluster firewall repeats rule 0 .* identically/);
});

test('a guest rule equal to a cluster rule is not a repeat: cluster rules guard the host', async () => {
  const a = await analyseFixture({
    lxc: lxcWithRules([rule('443', 'guest')]),
    hypervisor: clusterRules([rule('443', 'host')]),
  });
  assert.deepEqual(find(a, 'firewall.duplicate-rule'), []);
});

test('a VM rule that a stack it deploys already brings is a warning at the VM rule', async () => {
  const stackRule = rule('6333', 'qdrant http');
  const vmFile = {
    vms: [
      vm(1002, 'docker', '10.0.0.102', {
        docker_stacks: ['qdrant'],
        firewall: { enabled: true, rules: [rule('6333', 'mine')] },
      }),
    ],
  };
  const stacks = {
    qdrant: {
      config: { environments: { production: { firewall_rules: [stackRule] } } },
      compose: 'services:\n  q:\n    image: qdrant/qdrant:1\n',
    },
  };
  const a = await analyseFixture({ vm: vmFile, stacks });
  const d = only(a, 'firewall.duplicate-rule');
  assertAt(d, 'warning', '/vms/0/firewall/rules/0');
  assert.match(d.message, /stacks\/qdrant\/phoenix\.json \/environments\/production\/firewall_rules\/0/);
});
