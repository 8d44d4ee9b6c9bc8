import assert from 'node:assert/strict';
import type { Analysis } from '../../../src/analyse.js';
import type { Diagnostic } from '../../../src/config/diagnostics.js';
import { baseLxc, find, lxc } from '../../helpers/config-fixture.js';

/**
 * The 1-based line of the n-th line containing `needle` in `value` as writeFixture writes it
 * (JSON.stringify with two spaces), so tests can assert where a diagnostic points.
 */
export function lineOf(value: unknown, needle: string, occurrence = 1): number {
  const lines = JSON.stringify(value, null, 2).split('\n');
  let seen = 0;
  const index = lines.findIndex((l) => l.includes(needle) && ++seen === occurrence);
  assert.ok(index >= 0, `"${needle}" (occurrence ${occurrence}) not found in the fixture`);
  return index + 1;
}

/** The single diagnostic with `code`; fails listing what was reported instead. */
export function only(a: Analysis, code: string): Diagnostic {
  const found = find(a, code);
  assert.equal(
    found.length,
    1,
    `expected exactly one ${code}, got: ${JSON.stringify(a.diagnostics.items, null, 1)}`,
  );
  return found[0]!;
}

/** Asserts severity, pointer and (when given) line of a diagnostic in one go. */
export function assertAt(d: Diagnostic, severity: 'error' | 'warning', pointer: string, line?: number): void {
  assert.equal(d.severity, severity, d.message);
  assert.equal(d.pointer, pointer, d.message);
  if (line !== undefined) assert.equal(d.line, line, `line of: ${d.message}`);
}

export const SSL_HOST_DIR = '/mnt/pve/quickOS/lxc-persistent-data/101/ssl';

/** The base fixture with the gateway's key directory bind-mounted from the host, as in the original. */
export function lxcWithSslMount(extra: Record<string, unknown> = {}): {
  lxc_configs: Record<string, unknown>;
} {
  const base = baseLxc();
  const gateway = base.lxc_configs['101'] as Record<string, unknown>;
  gateway.mount_points = [
    { host_path: SSL_HOST_DIR, container_path: '/etc/nginx/ssl', owner_uid: 0, owner_gid: 0 },
  ];
  return {
    lxc_configs: {
      ...base.lxc_configs,
      '102': lxc('traefik', '10.0.0.12', { dependencies: ['103'] }),
      ...extra,
    },
  };
}

/** A legacy manifest entry for the gateway's certificate, as the original wrote it. */
export function legacyGatewayEntry(
  hook: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    common_name: 'nginx.internal.example',
    cert_path: `${SSL_HOST_DIR}/nginx.internal.example.crt`,
    key_path: `${SSL_HOST_DIR}/nginx.internal.example.key`,
    owner: 'root:www-data',
    permissions: '640',
    post_renewal_command: hook,
    ...extra,
  };
}
