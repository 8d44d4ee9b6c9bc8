import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseHypervisor, writeFixture } from '../helpers/config-fixture.js';
import { phoenix } from '../helpers/cli.js';

function withFixture(mutate: (dir: string) => void): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const dir = writeFixture({});
  try {
    mutate(dir);
    return phoenix(['validate', '--config-dir', dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HV = 'phoenix_hypervisor_config.json';
const LXC = 'phoenix_lxc_configs.json';

test('a valid config exits 0 and summarises', () => {
  const r = withFixture(() => {});
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^valid: .* \(target lab\): 2 guests, 0 certificates, 0 stacks, \d+ resources; 0 errors, 0 warnings$/m,
  );
});

const malformed: Array<[string, (dir: string) => void, RegExp]> = [
  [
    'invalid JSON',
    (d) => writeFileSync(join(d, LXC), '{\n  "lxc_configs": {\n    "101": { "name": "x", }\n  }\n}\n'),
    /phoenix_lxc_configs\.json:3:\d+: error file\.parse: invalid JSON/,
  ],
  [
    'a wrong type',
    (d) => writeFileSync(join(d, HV), JSON.stringify({ ...baseHypervisor(), domain_name: 42 }, null, 2)),
    /phoenix_hypervisor_config\.json:2:3: error schema at \/domain_name: expected string, got a number/,
  ],
  [
    'an unknown field',
    (d) => writeFileSync(join(d, HV), JSON.stringify({ ...baseHypervisor(), domain_nmae: 'x' }, null, 2)),
    /error schema at \/domain_nmae: unknown field "domain_nmae"/,
  ],
  [
    'a missing required file',
    (d) => rmSync(join(d, HV)),
    /phoenix_hypervisor_config\.json: error file\.read: file does not exist/,
  ],
  [
    'binary garbage',
    (d) => writeFileSync(join(d, LXC), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3])),
    /phoenix_lxc_configs\.json: error file\.read: file contains binary data \(a NUL byte at offset 4\)/,
  ],
  [
    'a 50 MB file',
    (d) => writeFileSync(join(d, LXC), Buffer.alloc(50 * 1024 * 1024, 0x20)),
    /phoenix_lxc_configs\.json: error file\.read: file is 50\.0 MiB; config files are limited to/,
  ],
  [
    'deeply nested JSON',
    (d) => writeFileSync(join(d, LXC), '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}'),
    /phoenix_lxc_configs\.json:1:\d+: error file\.parse: .*nests deeper than 64 levels/,
  ],
  [
    'an empty file',
    (d) => writeFileSync(join(d, LXC), ''),
    /phoenix_lxc_configs\.json:1:1: error file\.parse: invalid JSON/,
  ],
  [
    'a directory where a file should be',
    (d) => (rmSync(join(d, LXC)), mkdirSync(join(d, LXC))),
    /phoenix_lxc_configs\.json: error file\.read: file is not a regular file/,
  ],
  [
    'a malformed IP',
    (d) =>
      writeFileSync(
        join(d, LXC),
        JSON.stringify(
          {
            lxc_configs: {
              '101': {
                name: 'a',
                memory_mb: 512,
                cores: 1,
                storage_pool: 'p',
                storage_size_gb: 8,
                network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.300/24' },
              },
            },
          },
          null,
          2,
        ),
      ),
    /at \/lxc_configs\/101\/network_config\/ip: must be an IPv4 address with prefix length/,
  ],
  [
    'a relative path',
    (d) =>
      writeFileSync(
        join(d, LXC),
        JSON.stringify(
          {
            lxc_configs: {
              '101': {
                name: 'a',
                memory_mb: 512,
                cores: 1,
                storage_pool: 'p',
                storage_size_gb: 8,
                network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.3/24' },
                mount_points: [{ host_path: '/srv/../etc', container_path: 'data' }],
              },
            },
          },
          null,
          2,
        ),
      ),
    /at \/lxc_configs\/101\/mount_points\/0\/host_path: must be an absolute path without "\.\."/,
  ],
  [
    'a name with shell characters',
    (d) =>
      writeFileSync(
        join(d, LXC),
        JSON.stringify(
          {
            lxc_configs: {
              '101': {
                name: 'a;rm -rf /',
                memory_mb: 512,
                cores: 1,
                storage_pool: 'p',
                storage_size_gb: 8,
                network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.3/24' },
              },
            },
          },
          null,
          2,
        ),
      ),
    /at \/lxc_configs\/101\/name: must start with a letter or digit/,
  ],
];

for (const [name, mutate, expected] of malformed) {
  test(`${name} gives a located error and exit 2, never a stack trace`, () => {
    const r = withFixture(mutate);
    assert.equal(r.status, 2, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, expected);
    assert.doesNotMatch(r.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
    assert.match(r.stderr, /^invalid: .*: \d+ errors?, \d+ warnings?$/m);
  });
}

test('every problem is reported at once', () => {
  const r = withFixture((d) => {
    writeFileSync(
      join(d, HV),
      JSON.stringify({ ...baseHypervisor(), domain_name: 42, timezone: 'not a zone!' }, null, 2),
    );
    writeFileSync(join(d, LXC), '[');
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/domain_name/);
  assert.match(r.stderr, /\/timezone/);
  assert.match(r.stderr, /phoenix_lxc_configs\.json:1:2: error file\.parse/);
});

test('--json prints a machine-readable result with the same diagnostics', () => {
  const dir = writeFixture({ hypervisor: { ...baseHypervisor(), domain_name: 42 } });
  try {
    const r = phoenix(['validate', '--json', '--config-dir', dir]);
    assert.equal(r.status, 2);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      errors: number;
      diagnostics: Array<Record<string, unknown>>;
    };
    assert.equal(out.ok, false);
    assert.equal(out.errors, 1);
    assert.deepEqual(
      {
        code: out.diagnostics[0]!.code,
        pointer: out.diagnostics[0]!.pointer,
        line: out.diagnostics[0]!.line,
      },
      { code: 'schema', pointer: '/domain_name', line: 2 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the config dir comes from --config-dir, then $PHOENIX_CONFIG_DIR', () => {
  const dir = writeFixture({});
  try {
    assert.equal(phoenix(['validate'], { PHOENIX_CONFIG_DIR: dir }).status, 0);
    const r = phoenix(['validate', '--config-dir', '/nonexistent/phoenix'], { PHOENIX_CONFIG_DIR: dir });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /\/nonexistent\/phoenix: error config\.dir: config directory does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown command or option is a usage error with exit 2', () => {
  const r = phoenix(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.equal(phoenix(['validate', '--no-such-flag']).status, 2);
});

test('--help explains the commands and exits 0', () => {
  const r = phoenix(['--help']);
  assert.equal(r.status, 0);
  for (const cmd of ['validate', 'graph', 'schema', '--config-dir']) assert.match(r.stdout, new RegExp(cmd));
});
