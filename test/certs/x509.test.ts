import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  createCsr,
  generateKey,
  keyMatchesCert,
  loadX509,
  normaliseSerial,
  parseCertificate,
  splitPemChain,
} from '../../src/certs/x509.js';
import { MemoryIssuer } from '../../src/drivers/memory/index.js';
import type { KeyType } from '../../src/model/inventory.js';

const NAMES = {
  commonName: 'portainer.internal.example',
  dnsNames: ['portainer.internal.example'],
  ipAddresses: ['10.0.0.101'],
};

async function issuedPair(issuer: MemoryIssuer, keyType: KeyType = 'ecdsa-p256') {
  const key = await generateKey(keyType);
  const csrPem = await createCsr(key.keyPem, NAMES);
  const issued = await issuer.issue({ csrPem, ...NAMES, usage: 'server' });
  return { key, issued };
}

test('every key type is generated as PKCS#8 and recognised in the certificate', async () => {
  const issuer = new MemoryIssuer();
  const types: KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];
  for (const type of types) {
    const { key, issued } = await issuedPair(issuer, type);
    assert.match(key.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, type);
    assert.equal(key.keyType, type);
    const parsed = await parseCertificate(issued.certPem);
    assert.equal(parsed.keyType, type);
    assert.equal(
      parsed.publicKeySpki,
      key.publicKeySpki,
      `${type}: the certificate carries the generated key`,
    );
  }
});

test('a key matches its own certificate and not one issued for another key', async () => {
  const issuer = new MemoryIssuer();
  const a = await issuedPair(issuer);
  const b = await issuedPair(issuer);
  assert.equal(await keyMatchesCert(a.key.keyPem, a.issued.certPem), true);
  assert.equal(await keyMatchesCert(a.key.keyPem, b.issued.certPem), false);
  assert.equal(await keyMatchesCert(a.key.keyPem, a.issued.chainPem), false, 'the root is not the leaf');
  assert.equal(
    await keyMatchesCert(a.key.keyPem, a.issued.certPem + a.issued.chainPem),
    true,
    'the leaf comes first',
  );
  assert.equal(await keyMatchesCert('garbage', a.issued.certPem), false);
  assert.equal(await keyMatchesCert(a.key.keyPem, 'garbage'), false);
});

test('the CSR carries the common name and names, signed by the key', async () => {
  const key = await generateKey('ecdsa-p384');
  const csrPem = await createCsr(key.keyPem, {
    commonName: 'a, b=c+d',
    dnsNames: ['a.example'],
    ipAddresses: ['::1'],
  });
  const { Pkcs10CertificateRequest } = await loadX509();
  const csr = new Pkcs10CertificateRequest(csrPem);
  assert.ok(await csr.verify());
  assert.equal(csr.subjectName.getField('CN')[0], 'a, b=c+d', 'the common name needs no escaping by callers');
  assert.equal(Buffer.from(csr.publicKey.rawData).toString('base64'), key.publicKeySpki);
  assert.equal(createPrivateKey(key.keyPem).asymmetricKeyDetails?.namedCurve, 'secp384r1');
});

test('a chain splits into its certificates, each ending in one newline', async () => {
  const { issued } = await issuedPair(new MemoryIssuer());
  const parts = splitPemChain(`${issued.certPem}\n\n${issued.chainPem.trimEnd()}`);
  assert.equal(parts.length, 2);
  assert.equal(parts[0], issued.certPem);
  assert.equal(parts[1], issued.chainPem);
  assert.deepEqual(splitPemChain('no certificates here'), []);
  await assert.rejects(parseCertificate('no certificates here'), /no PEM certificate/);
});

test('serials are upper-case hex without leading zero bytes', () => {
  assert.equal(normaliseSerial('00ab12'), 'AB12');
  assert.equal(normaliseSerial('0a0b'), '0A0B');
  assert.equal(normaliseSerial('00'), '00');
});

test('importing the helpers does not load @peculiar/x509; the first use does', () => {
  const helpers = fileURLToPath(new URL('../../src/certs/x509.js', import.meta.url));
  const script = `
    import { createRequire } from 'node:module';
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('@peculiar'));
    const x509 = await import(${JSON.stringify(helpers)});
    const before = loaded();
    await x509.loadX509();
    console.log(JSON.stringify({ before, after: loaded() }));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { before: false, after: true });
});
