import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseHypervisor, codes } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const withPassword = (admin_password: string) => ({
  ...baseHypervisor(),
  portainer_api: { admin_user: 'admin', admin_password },
});

test('secrets by file or environment reference pass, without reading the file', async () => {
  const a = await analyseFixture({
    hypervisor: withPassword('file:/nonexistent/phoenix/portainer-password'),
  });
  assert.deepEqual(
    codes(a).filter((c) => c.startsWith('secret.')),
    [],
  );
  const b = await analyseFixture({ hypervisor: withPassword('env:PORTAINER_PASSWORD') });
  assert.deepEqual(
    codes(b).filter((c) => c.startsWith('secret.')),
    [],
  );
});

test('a plaintext secret is a warning naming the field and never the value', async () => {
  const hypervisor = withPassword('hunter2-s3cret');
  const a = await analyseFixture({ hypervisor });
  const d = only(a, 'secret.plaintext');
  assertAt(d, 'warning', '/portainer_api/admin_password', lineOf(hypervisor, '"admin_password"'));
  assert.match(d.message, /^portainer_api\.admin_password holds a plaintext secret/);
  assert.match(d.message, /"file:\/path\/to\/that\/file"/);
  assert.match(d.message, /"env:NAME"/);
  const everything = JSON.stringify(a.diagnostics.items);
  assert.ok(!everything.includes('hunter2'), 'no diagnostic may contain the secret');
});

test('a file reference that is not an absolute path is an error', async () => {
  const a = await analyseFixture({ hypervisor: withPassword('file:secrets/pw') });
  const d = only(a, 'secret.invalid-ref');
  assertAt(d, 'error', '/portainer_api/admin_password');
  assert.match(d.message, /not an absolute path/);
});
