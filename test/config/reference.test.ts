import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { analyse } from '../../src/analyse.js';

const REFERENCE = fileURLToPath(new URL('../../../../shared/reference/original-config/etc', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

test('the original system’s files load and are typed, stacks found beside etc/', async () => {
  const { inventory, diagnostics } = await analyse(REFERENCE);
  assert.equal(diagnostics.errorCount, 0, diagnostics.items.map((d) => d.message).join('\n'));
  assert.ok(inventory);
  assert.equal(inventory.guests.size, 15);
  assert.deepEqual([...inventory.stacks.keys()].sort(), [
    'portainer_service',
    'qdrant_service',
    'thinkheads_ai_app',
  ]);
  const gw = inventory.guests.get(101);
  assert.equal(gw?.kind, 'lxc');
  assert.equal(gw?.kind === 'lxc' && gw.unprivileged, true);
  // The legacy nginx entry's host paths are read through 101's bind mount, owner as seen inside 101.
  const nginx = inventory.certificates.find((c) => c.name === 'nginx.internal.thinkheads.ai')!;
  assert.deepEqual(nginx.install[0]!.key.location, {
    guest: 101,
    path: '/etc/nginx/ssl/nginx.internal.thinkheads.ai.key',
    hostPath: '/mnt/pve/quickOS/lxc-persistent-data/101/ssl/nginx.internal.thinkheads.ai.key',
  });
  assert.equal(nginx.install[0]!.key.group, 'www-data');
  assert.equal(nginx.install[0]!.key.mode, 0o640);
  // Its recognised hook became a typed follow-up.
  assert.deepEqual(
    nginx.followUps.map((f) => ({ ...f, origin: undefined })),
    [{ type: 'reload-service', guest: 101, service: 'nginx', origin: undefined }],
  );
  // The plaintext Portainer password is known to be plaintext but its value is kept nowhere.
  const secret = inventory.secrets.find((s) => s.origin.pointer === '/portainer_api/admin_password');
  assert.deepEqual(secret && { kind: secret.kind, ref: secret.ref }, { kind: 'plaintext', ref: undefined });
  assert.ok(!JSON.stringify([...inventory.secrets]).includes('REDACTED'));
});

test('the example is in Phoenix format, targets the lab and validates cleanly', async () => {
  const { inventory, graph, diagnostics } = await analyse(EXAMPLE);
  assert.deepEqual(diagnostics.items, []);
  assert.equal(inventory?.target, 'lab');
  assert.ok(inventory?.secrets.every((s) => s.kind !== 'plaintext'));
  assert.ok(graph?.nodes.has('restart/1001:portainer_server'));
});
