import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issuerFromConfig } from '../../src/drivers/ca/from-config.js';
import type { Issuer } from '../../src/model/inventory.js';
import { readSecret } from '../../src/model/secret-value.js';

const origin = { file: 'certificate-manifest.json', pointer: '/issuers/ca' };

test('secrets by reference: env and 0600 files are read, a readable-by-others file is refused, errors never hold the value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-secret-'));
  try {
    const file = join(dir, 'pw');
    writeFileSync(file, 's3cret-value\n', { mode: 0o600 });
    assert.equal(await readSecret(`file:${file}`, 'pw'), 's3cret-value');
    chmodSync(file, 0o644);
    await assert.rejects(
      readSecret(`file:${file}`, 'pw'),
      (e: Error) => /must be 0600/.test(e.message) && !e.message.includes('s3cret'),
    );
    process.env.PHOENIX_TEST_SECRET = 'from-env';
    assert.equal(await readSecret('env:PHOENIX_TEST_SECRET', 'pw'), 'from-env');
    await assert.rejects(readSecret('env:PHOENIX_TEST_NOPE', 'pw'), /PHOENIX_TEST_NOPE is not set/);
    await assert.rejects(readSecret(`file:${join(dir, 'missing')}`, 'pw'), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    delete process.env.PHOENIX_TEST_SECRET;
  }
});

test('a real issuer without a root fingerprint refuses to issue, saying what to configure', async () => {
  const cfg = {
    type: 'step-ca-jwk',
    url: 'https://ca.internal.example:9000',
    provisioner: 'admin',
    password: 'env:PHOENIX_TEST_NOPE',
    name: 'ca',
    origin,
  } as unknown as Issuer;
  const issuer = issuerFromConfig(cfg, 'ca', tmpdir());
  await assert.rejects(issuer.roots(), /no root_fingerprint: Phoenix pins the CA's root/);
});

test('a missing password reference fails at first use with the variable named, not at construction', async () => {
  const cfg = {
    type: 'step-ca-jwk',
    url: 'https://127.0.0.1:1',
    provisioner: 'admin',
    password: 'env:PHOENIX_TEST_NOPE',
    root_fingerprint: 'a'.repeat(64),
    origin,
  } as unknown as Issuer;
  const issuer = issuerFromConfig(cfg, 'ca', tmpdir());
  await assert.rejects(
    issuer.issue({ csrPem: '', commonName: 'x', dnsNames: ['x'], ipAddresses: [], usage: 'server' }),
    /issuer ca password: environment variable PHOENIX_TEST_NOPE is not set/,
  );
});
