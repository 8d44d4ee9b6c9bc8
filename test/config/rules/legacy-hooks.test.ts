import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, codes, find, vm } from '../../helpers/config-fixture.js';
import { assertAt, legacyGatewayEntry, lineOf, lxcWithSslMount, only, SSL_HOST_DIR } from './helpers.js';

const KEY = '/etc/nginx/ssl/nginx.internal.example.key';
const hookCodes = (a: Awaited<ReturnType<typeof analyseFixture>>) =>
  codes(a).filter((c) => c.startsWith('hook.'));
const analyseHookOf = (hook: string, extra: Record<string, unknown> = {}) =>
  analyseFixture({
    lxc: lxcWithSslMount(),
    vm: { vms: [vm(1001, 'portainer', '10.0.0.111')] },
    certificates: [legacyGatewayEntry(hook, extra)],
  });

test('a hook that is exactly one reload is a typed follow-up: no hook diagnostic', async () => {
  const a = await analyseHookOf('pct exec 101 -- systemctl reload nginx');
  assert.deepEqual(hookCodes(a), []);
  assert.deepEqual(codes(a, 'error'), []);
});

test("the RCA's fix 1 hook is a second writer of the key: an error naming both writers", async () => {
  const fix1 =
    "pct exec 101 -- /bin/bash -c 'while [ ! -f /etc/nginx/ssl/nginx.internal.example.key ]; do sleep 1; done; " +
    `chown root:www-data ${KEY}; chmod 640 ${KEY}; systemctl reload nginx'`;
  const certificates = [legacyGatewayEntry(fix1)];
  const a = await analyseFixture({ lxc: lxcWithSslMount(), certificates });
  const d = only(a, 'hook.second-writer');
  assertAt(d, 'error', '/0/post_renewal_command', lineOf(certificates, '"post_renewal_command"'));
  assert.ok(
    d.message.startsWith(
      `post_renewal_command changes the owner of and sets the mode of 101:${KEY} (host path ${SSL_HOST_DIR}/`,
    ),
    d.message,
  );
  assert.match(
    d.message,
    /\("chown root:www-data \/etc\/nginx\/ssl\/nginx\.internal\.example\.key", "chmod 640 /,
  );
  assert.match(
    d.message,
    /which certificate "nginx\.internal\.example" already owns \(certificate-manifest\.json \/0\/key_path, mode 0640, owner root:www-data\): two writers of one fact\./,
  );
  // The hook is not a sole reload, so it is also untyped; the suggestion is the exact JSON.
  assert.match(only(a, 'hook.untyped').message, /\{"type":"reload-service","guest":101,"service":"nginx"\}/);
});

test('the RCA chmod 600 over a declared 0640 is reported as a disagreement', async () => {
  const a = await analyseHookOf(`pct exec 101 -- chmod 600 ${KEY}`);
  assert.match(
    only(a, 'hook.second-writer').message,
    /two writers of one fact, and they disagree: the hook sets mode 0600\./,
  );
});

test('a glob write reaches every matching file once per file, with all its commands', async () => {
  const a = await analyseHookOf(
    "pct exec 101 -- /bin/bash -c 'mv /tmp/key.pem /etc/nginx/ssl/nginx.internal.example.key && chown root:www-data /etc/nginx/ssl/* && chmod 640 /etc/nginx/ssl/*.key'",
  );
  const found = find(a, 'hook.second-writer');
  assert.equal(found.length, 2, found.map((d) => d.message).join('\n'));
  const key = found.find((d) => d.message.includes('/0/key_path'))!;
  assert.match(key.message, /replaces, changes the owner of and sets the mode of 101:/);
  const cert = found.find((d) => d.message.includes('/0/cert_path'))!;
  assert.match(cert.message, /changes the owner of 101:\/etc\/nginx\/ssl\/nginx\.internal\.example\.crt/);
});

test('a write on the host path behind the bind mount is a second writer too', async () => {
  const a = await analyseHookOf(`chmod 600 ${SSL_HOST_DIR}/nginx.internal.example.key`);
  assert.match(
    only(a, 'hook.second-writer').message,
    /sets the mode of 101:\/etc\/nginx\/ssl\/nginx\.internal\.example\.key/,
  );
});

test('a recursive chown of the directory reaches the files below it', async () => {
  const a = await analyseHookOf('pct exec 101 -- chown -R www-data /etc/nginx/ssl');
  assert.equal(find(a, 'hook.second-writer').length, 2);
});

test('a hook writing files no certificate installs is untyped, not a second writer', async () => {
  const a = await analyseHookOf(
    "pct exec 101 -- /bin/bash -c 'chmod 600 /etc/nginx/other.key && systemctl restart nginx'",
  );
  assert.deepEqual(hookCodes(a), ['hook.untyped']);
  const d = only(a, 'hook.untyped');
  assertAt(d, 'warning', '/0/post_renewal_command');
  assert.match(d.message, /\{"type":"reload-service","guest":101,"service":"nginx"\}/);
  assert.match(d.message, /It also writes files no certificate installs \(101:\/etc\/nginx\/other\.key\)/);
});

test('a hook that deploys with docker compose is an error: deployments belong to stacks', async () => {
  const a = await analyseHookOf(
    "qm guest exec 1001 -- /bin/bash -c 'cd /opt/portainer && docker compose up -d'",
  );
  const d = only(a, 'hook.deploys');
  assertAt(d, 'error', '/0/post_renewal_command');
  assert.match(d.message, /"docker compose up -d" in VM 1001 "portainer"/);
  assert.match(d.message, /Deployments belong to stacks \(stacks\/<name>\/ plus the VM's "docker_stacks"\)/);
  assert.equal(find(a, 'hook.second-writer').length, 0);
});

test('a hook the analysis cannot follow is untyped and says what was not analysed', async () => {
  const a = await analyseHookOf("pct exec 101 -- /bin/bash -c 'echo unterminated");
  const d = only(a, 'hook.untyped');
  assert.match(d.message, /Parts of it could not be analysed: unbalanced single quote/);
  assert.match(d.message, /\{"type":"none"\}/);
});
