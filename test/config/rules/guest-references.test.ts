import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseLxc, codes, find, lxc, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const withGuest = (id: string, extra: Record<string, unknown>) => ({
  lxc_configs: { ...baseLxc().lxc_configs, [id]: lxc('worker', '10.0.0.50', extra) },
});

test('known dependencies and clone sources of the right kind pass', async () => {
  const files = {
    lxc: withGuest('102', { dependencies: ['103', 101], clone_from_ctid: '103' }),
    vm: {
      vms: [
        vm(9000, 'tmpl', '10.0.0.90', { is_template: true }),
        vm(1001, 'app', '10.0.0.111', { clone_from_vmid: 9000, dependencies: ['102'] }),
      ],
    },
  };
  const a = await analyseFixture(files);
  assert.deepEqual(
    codes(a).filter((c) => c.startsWith('ref.')),
    [],
  );
});

test('a dependency on an undeclared guest is an error at that list entry', async () => {
  const lxcFile = withGuest('102', { dependencies: ['103', '999'] });
  const a = await analyseFixture({ lxc: lxcFile });
  const d = only(a, 'ref.unknown-guest');
  assertAt(d, 'error', '/lxc_configs/102/dependencies/1', lineOf(lxcFile, '"999"'));
  assert.match(d.message, /LXC 102 "worker" depends on guest 999, which is declared in neither/);
});

test('a VM dependency on an undeclared guest is an error too', async () => {
  const vmFile = { vms: [vm(1001, 'app', '10.0.0.111', { dependencies: ['4242'] })] };
  const a = await analyseFixture({ vm: vmFile });
  assertAt(only(a, 'ref.unknown-guest'), 'error', '/vms/0/dependencies/0', lineOf(vmFile, '"4242"'));
});

test('a guest depending on itself is an error', async () => {
  const a = await analyseFixture({ lxc: withGuest('102', { dependencies: ['102'] }) });
  const d = only(a, 'ref.self-dependency');
  assertAt(d, 'error', '/lxc_configs/102/dependencies/0');
  assert.match(d.message, /lists itself/);
});

test('a clone source that does not exist is an error at clone_from_ctid', async () => {
  const lxcFile = withGuest('102', { clone_from_ctid: '950' });
  const a = await analyseFixture({ lxc: lxcFile });
  const d = only(a, 'ref.unknown-guest');
  assertAt(d, 'error', '/lxc_configs/102/clone_from_ctid', lineOf(lxcFile, 'clone_from_ctid'));
  assert.match(d.message, /cloned from guest 950/);
});

test('a container cloned from a VM is an error naming both', async () => {
  const a = await analyseFixture({
    lxc: withGuest('102', { clone_from_ctid: 9000 }),
    vm: { vms: [vm(9000, 'tmpl', '10.0.0.90', { is_template: true })] },
  });
  const d = only(a, 'ref.clone-kind');
  assertAt(d, 'error', '/lxc_configs/102/clone_from_ctid');
  assert.match(
    d.message,
    /LXC 102 "worker" is cloned from VM 9000 "tmpl", but a container can only be cloned from a container/,
  );
});

test('a VM cloned from a container is an error at clone_from_vmid', async () => {
  const a = await analyseFixture({ vm: { vms: [vm(1001, 'app', '10.0.0.111', { clone_from_vmid: 103 })] } });
  assertAt(only(a, 'ref.clone-kind'), 'error', '/vms/0/clone_from_vmid');
  assert.equal(find(a, 'ref.unknown-guest').length, 0);
});
