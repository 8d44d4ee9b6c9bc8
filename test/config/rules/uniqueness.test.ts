import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseLxc, codes, lxc, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const lxcs = (extra: Record<string, unknown>) => ({ lxc_configs: { ...baseLxc().lxc_configs, ...extra } });

test('distinct addresses, MACs and names pass', async () => {
  const a = await analyseFixture({
    lxc: lxcs({ '102': lxc('traefik', '10.0.0.12', { mac_address: '52:54:00:AA:BB:01' }) }),
    vm: { vms: [vm(1001, 'portainer', '10.0.0.111', { mac_address: '52:54:00:aa:bb:02' })] },
  });
  assert.deepEqual(
    codes(a).filter((c) => c.startsWith('guest.')),
    [],
  );
});

test('two guests with one IP address is an error at the later one, naming the earlier', async () => {
  const vmFile = { vms: [vm(1001, 'portainer', '10.0.0.153')] };
  const a = await analyseFixture({ vm: vmFile });
  const d = only(a, 'guest.duplicate-ip');
  assertAt(d, 'error', '/vms/0/network_config/ip', lineOf(vmFile, '"ip"'));
  assert.match(
    d.message,
    /VM 1001 "portainer" uses 10\.0\.0\.153, which LXC 101 "gateway" already uses \(phoenix_lxc_configs\.json \/lxc_configs\/101\/network_config\/ip\)/,
  );
});

test("a guest using the host's own address is an error", async () => {
  const a = await analyseFixture({ lxc: lxcs({ '102': lxc('traefik', '10.0.0.13') }) });
  const d = only(a, 'guest.duplicate-ip');
  assertAt(d, 'error', '/lxc_configs/102/network_config/ip');
  assert.match(
    d.message,
    /the host's own address \(phoenix_hypervisor_config\.json \/network\/interfaces\/address\)/,
  );
});

test('MAC addresses compare case-insensitively', async () => {
  const lxcFile = lxcs({
    '102': lxc('traefik', '10.0.0.12', { mac_address: '52:54:00:AA:BB:CC' }),
    '104': lxc('other', '10.0.0.14', { mac_address: '52:54:00:aa:bb:cc' }),
  });
  const a = await analyseFixture({ lxc: lxcFile });
  const d = only(a, 'guest.duplicate-mac');
  assertAt(d, 'error', '/lxc_configs/104/mac_address', lineOf(lxcFile, '52:54:00:aa:bb:cc'));
  assert.match(
    d.message,
    /LXC 104 "other" has MAC address 52:54:00:aa:bb:cc, which LXC 102 "traefik" already has/,
  );
});

test('guest names are hostnames: duplicates, in any case, are an error', async () => {
  const a = await analyseFixture({ vm: { vms: [vm(1001, 'Gateway', '10.0.0.111')] } });
  const d = only(a, 'guest.duplicate-name');
  assertAt(d, 'error', '/vms/0/name');
  assert.match(d.message, /VM 1001 "Gateway" has the same name as LXC 101 "gateway"/);
});
