import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse, type Analysis } from '../../../src/analyse.js';
import { codes, find } from '../../helpers/config-fixture.js';

/** The original tool's configuration (read-only): etc/ and stacks/ side by side. */
const REFERENCE = '/work/shared/reference/original-config';
const RULE_CODES = /^(ref|guest|stack|cert|hook|secret|firewall)\./;

function countByCode(a: Analysis): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of codes(a).filter((c) => RULE_CODES.test(c))) out[c] = (out[c] ?? 0) + 1;
  return out;
}

const pointers = (a: Analysis, code: string) => find(a, code).map((d) => d.pointer);

test('the reference config has no errors, and the warnings its history explains', async () => {
  const a = await analyse(join(REFERENCE, 'etc'));
  assert.deepEqual(
    codes(a, 'error'),
    [],
    JSON.stringify(
      a.diagnostics.items.filter((d) => d.severity === 'error'),
      null,
      1,
    ),
  );
  assert.deepEqual(countByCode(a), {
    'cert.key-readable-by-others': 1, // traefik's "permissions": "644" applies to its key too
    'firewall.duplicate-rule': 6,
    'hook.untyped': 1,
    'ref.unknown-mount-guest': 8,
    'secret.plaintext': 1,
    'stack.undeclared-volume': 3,
    'stack.undefined-variable': 1,
  });

  // Exactly one hook warning: traefik's wait-then-reload. The two plain reloads became typed follow-ups.
  const hook = find(a, 'hook.untyped')[0]!;
  assert.equal(hook.pointer, '/2/post_renewal_command');
  assert.match(hook.message, /\{"type":"reload-service","guest":102,"service":"traefik"\}/);

  assert.deepEqual(pointers(a, 'secret.plaintext'), ['/portainer_api/admin_password']);
  assert.ok(!hook.message.includes('REDACTED') && !JSON.stringify(a.diagnostics.items).includes('REDACTED'));
  assert.deepEqual(pointers(a, 'ref.unknown-mount-guest').sort(), [
    '/shared_volumes/llamacpp_models/mounts/957',
    '/shared_volumes/nginx_logs/mounts/953',
    '/shared_volumes/nginx_sites/mounts/953',
    '/shared_volumes/ollama_models/mounts/955',
    '/shared_volumes/ssl_certs/mounts/953',
    '/shared_volumes/ssl_certs/mounts/954',
    '/shared_volumes/vllm_models/mounts/950',
    '/shared_volumes/vllm_models/mounts/951',
  ]);
  assert.deepEqual(pointers(a, 'firewall.duplicate-rule').sort(), [
    '/lxc_configs/101/firewall/rules/3',
    '/lxc_configs/103/firewall/rules/2',
    '/lxc_configs/103/firewall/rules/3',
    '/vms/2/firewall/rules/2',
    '/vms/2/firewall/rules/4', // also brought by stack qdrant_service
    '/vms/2/firewall/rules/5',
  ]);
  const volumes = find(a, 'stack.undeclared-volume').map((d) => /volume "(\w+)"/.exec(d.message)?.[1]);
  assert.deepEqual(volumes.sort(), ['portainer_data_nfs', 'qdrant_data_nfs', 'thinkheads_ai_app_data_nfs']);
  const apiPort = find(a, 'stack.undefined-variable')[0]!;
  assert.match(apiPort.file, /thinkheads_ai_app\/docker-compose\.yml$/);
  assert.equal(apiPort.line, 7);
  assert.match(apiPort.message, /\$\{API_PORT\}/);
});

test('the later manifest revision: every hook that mv/chown/chmods installed files is a second writer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-reference-'));
  try {
    cpSync(join(REFERENCE, 'etc'), join(dir, 'etc'), { recursive: true });
    cpSync(join(REFERENCE, 'stacks'), join(dir, 'stacks'), { recursive: true });
    chmodSync(join(dir, 'etc'), 0o755);
    const manifest = join(dir, 'etc', 'certificate-manifest.json');
    chmodSync(manifest, 0o644);
    copyFileSync(join(dir, 'etc', 'certificate-manifest.later-revision.json'), manifest);
    const a = await analyse(join(dir, 'etc'));

    assert.deepEqual(new Set(codes(a, 'error')), new Set(['hook.second-writer']));
    const byHook = new Map<string, string[]>();
    for (const d of find(a, 'hook.second-writer')) {
      const owner = /already owns \(certificate-manifest\.json (\/\d+\/\w+),/.exec(d.message)?.[1] ?? '?';
      byHook.set(d.pointer, [...(byHook.get(d.pointer) ?? []), owner].sort());
    }
    assert.deepEqual(Object.fromEntries(byHook), {
      // nginx: mv + chown /etc/nginx/ssl/* + chmod *.crt/*.key reach its own pair and nginx-gateway-client's.
      '/0/post_renewal_command': ['/0/cert_path', '/0/key_path', '/6/cert_path', '/6/key_path'],
      '/2/post_renewal_command': ['/2/cert_path', '/2/key_path'], // traefik
      '/5/post_renewal_command': ['/5/cert_path', '/5/key_path'], // traefik-client
      '/6/post_renewal_command': ['/6/cert_path', '/6/key_path'], // nginx-gateway-client
    });
    // The VM hooks write /etc/docker/tls/*, which no entry installs (their paths are on the host): untyped only.
    for (const p of ['/3', '/4'])
      assert.ok(pointers(a, 'hook.untyped').includes(`${p}/post_renewal_command`));
    assert.deepEqual(find(a, 'hook.deploys'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
