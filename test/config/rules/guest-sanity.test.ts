import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseLxc, codes, lxc, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

test('guests inside the host subnet and templates without boot settings pass', async () => {
  const a = await analyseFixture({
    lxc: {
      lxc_configs: {
        ...baseLxc().lxc_configs,
        '900': lxc('base', '10.0.0.200', { template_snapshot_name: 'final', boot_order: 0 }),
      },
    },
    vm: { vms: [vm(9000, 'tmpl', '10.0.0.90', { is_template: true })] },
  });
  assert.deepEqual(
    codes(a).filter((c) => c.startsWith('guest.')),
    [],
  );
});

test('a guest address outside the host subnet is a warning naming the network', async () => {
  const vmFile = { vms: [vm(1001, 'app', '10.0.1.5')] };
  const a = await analyseFixture({ vm: vmFile });
  const d = only(a, 'guest.outside-subnet');
  assertAt(d, 'warning', '/vms/0/network_config/ip', lineOf(vmFile, '"ip"'));
  assert.match(d.message, /10\.0\.1\.5, outside the host's network 10\.0\.0\.0\/24/);
});

test('a container template with a boot order is a warning: templates are never started', async () => {
  const lxcFile = {
    lxc_configs: {
      ...baseLxc().lxc_configs,
      '900': lxc('base', '10.0.0.200', { template_snapshot_name: 'final', boot_order: 3 }),
    },
  };
  const a = await analyseFixture({ lxc: lxcFile });
  const d = only(a, 'guest.template-boots');
  assertAt(d, 'warning', '/lxc_configs/900/boot_order', lineOf(lxcFile, '"boot_order"'));
  assert.match(d.message, /templates are never started/);
});

test('a VM template set to start at boot is a warning', async () => {
  const a = await analyseFixture({
    vm: { vms: [vm(9000, 'tmpl', '10.0.0.90', { is_template: true, start_at_boot: true })] },
  });
  assertAt(only(a, 'guest.template-boots'), 'warning', '/vms/0/start_at_boot');
});
