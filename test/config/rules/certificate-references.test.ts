import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseHypervisor, baseLxc, find, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const install = (guest: unknown) => [
  { guest, key: { path: '/etc/nginx/ssl/gw.key' }, cert: { path: '/etc/nginx/ssl/gw.crt' } },
];
const manifest = (entry: Record<string, unknown>, issuers?: unknown) => ({
  ...(issuers ? { issuers } : {}),
  certificates: [{ common_name: 'gw.internal.example', install: install(101), ...entry }],
});

test('install targets, follow-ups and issuers on declared guests pass', async () => {
  const certificates = manifest(
    { follow_up: { type: 'reload-service', guest: 101, service: 'nginx' } },
    {
      ca: {
        type: 'step-ca-jwk',
        url: 'https://ca.internal.example:9000',
        provisioner: 'admin',
        password: 'env:PW',
        guest: 103,
      },
    },
  );
  const a = await analyseFixture({ certificates });
  assert.deepEqual(find(a, 'ref.unknown-guest'), []);
});

test('an install target in an undeclared guest is an error at its guest field', async () => {
  const certificates = manifest({ install: install(555) });
  const a = await analyseFixture({ certificates });
  const d = only(a, 'ref.unknown-guest');
  assertAt(d, 'error', '/certificates/0/install/0/guest', lineOf(certificates, '"guest": 555'));
  assert.match(d.message, /certificate "gw.internal.example" installs into guest 555/);
});

test('a follow-up in an undeclared guest is an error at its guest field', async () => {
  const certificates = manifest({ follow_up: { type: 'reload-service', guest: 556, service: 'nginx' } });
  const a = await analyseFixture({ certificates });
  assertAt(
    only(a, 'ref.unknown-guest'),
    'error',
    '/certificates/0/follow_up/guest',
    lineOf(certificates, '"guest": 556'),
  );
});

test('a legacy hook that reloads a service in an undeclared guest is an error at the hook', async () => {
  const certificates = [
    { common_name: 'x.internal.example', post_renewal_command: 'pct exec 557 -- systemctl reload nginx' },
  ];
  const a = await analyseFixture({ certificates });
  const d = only(a, 'ref.unknown-guest');
  assertAt(d, 'error', '/0/post_renewal_command');
  assert.match(d.message, /reloads nginx in guest 557/);
});

test('an issuer on an undeclared guest is an error at issuers/<name>/guest', async () => {
  const issuers = {
    ca: {
      type: 'step-ca-jwk',
      url: 'https://ca.internal.example:9000',
      provisioner: 'admin',
      password: 'env:PW',
      guest: 558,
    },
  };
  const certificates = manifest({}, issuers);
  const a = await analyseFixture({ certificates });
  assertAt(only(a, 'ref.unknown-guest'), 'error', '/issuers/ca/guest', lineOf(certificates, '"guest": 558'));
});

test('step_ca.guest naming an undeclared guest is an error in the hypervisor file', async () => {
  const hypervisor = { ...baseHypervisor(), step_ca: { guest: 559 } };
  const a = await analyseFixture({
    hypervisor,
    vm: { vms: [vm(1001, 'app', '10.0.0.111')] },
    lxc: baseLxc(),
  });
  const d = only(a, 'ref.unknown-guest');
  assertAt(d, 'error', '/step_ca/guest', lineOf(hypervisor, '"guest": 559'));
  assert.match(d.file, /phoenix_hypervisor_config\.json$/);
});
