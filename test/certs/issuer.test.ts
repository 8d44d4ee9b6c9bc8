import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCsr, generateKey, parseCertificate } from '../../src/certs/x509.js';
import { DriverError } from '../../src/drivers/errors.js';
import { MemoryIssuer } from '../../src/drivers/memory/index.js';
import type { IssueRequest } from '../../src/drivers/ca/types.js';

/** Whole seconds: X.509 times have second precision. */
const NOW = new Date('2030-06-01T12:00:00Z');
const NAMES = {
  commonName: 'nginx.internal.example',
  dnsNames: ['nginx.internal.example', 'gw.internal.example'],
  ipAddresses: ['10.0.0.153'],
};

async function request(
  overrides: Partial<IssueRequest> = {},
  keyType = 'ecdsa-p256' as const,
): Promise<IssueRequest> {
  const key = await generateKey(keyType);
  const csrPem = await createCsr(key.keyPem, NAMES);
  return { csrPem, ...NAMES, usage: 'server', ...overrides };
}

test('a CSR becomes a leaf with the requested names, server EKU and lifetime, backdated 60 s', async () => {
  const issuer = new MemoryIssuer(undefined, { now: () => NOW });
  const issued = await issuer.issue(await request({ lifetimeSeconds: 7 * 24 * 3600 }));
  const leaf = await parseCertificate(issued.certPem);
  assert.deepEqual(leaf.dnsNames, NAMES.dnsNames);
  assert.deepEqual(leaf.ipAddresses, NAMES.ipAddresses);
  assert.deepEqual(leaf.extendedKeyUsage, ['server']);
  assert.equal(leaf.subjectDn, 'CN=nginx.internal.example');
  assert.equal(leaf.notBefore.getTime(), NOW.getTime() - 60_000);
  assert.equal(leaf.notAfter.getTime(), NOW.getTime() + 7 * 24 * 3600 * 1000);
  assert.equal(issuer.issued, 1);
});

test('the default lifetime is 24 hours, and client certificates get clientAuth', async () => {
  const issuer = new MemoryIssuer(undefined, { now: () => NOW });
  const leaf = await parseCertificate((await issuer.issue(await request({ usage: 'client' }))).certPem);
  assert.equal(leaf.notAfter.getTime(), NOW.getTime() + 24 * 3600 * 1000);
  assert.deepEqual(leaf.extendedKeyUsage, ['client']);
});

test('the leaf verifies against the chain root, which is a CA, and RSA keys are accepted too', async () => {
  const issuer = new MemoryIssuer();
  const issued = await issuer.issue(await request({}, 'rsa-2048' as never));
  const leaf = new X509Certificate(issued.certPem);
  const root = new X509Certificate(issued.chainPem);
  assert.equal(await issuer.roots(), issued.chainPem);
  assert.ok(root.ca);
  assert.ok(leaf.checkIssued(root));
  assert.ok(leaf.verify(root.publicKey));
  assert.equal(leaf.ca, false);
  assert.equal((await parseCertificate(issued.certPem)).keyType, 'rsa-2048');
});

test('serials are random, 16 bytes at most, and printed as Node prints them', async () => {
  const issuer = new MemoryIssuer();
  const a = await issuer.issue(await request());
  const b = await issuer.issue(await request());
  const serialA = (await parseCertificate(a.certPem)).serial;
  assert.equal(serialA, new X509Certificate(a.certPem).serialNumber);
  assert.notEqual(serialA, (await parseCertificate(b.certPem)).serial);
  assert.ok(serialA.length <= 32 && /^[0-9A-F]+$/.test(serialA), serialA);
});

test('a CSR whose names differ from the request is refused, like step-ca does', async () => {
  const issuer = new MemoryIssuer();
  await assert.rejects(
    issuer.issue(await request({ dnsNames: ['other.example'] })),
    (err: unknown) => err instanceof DriverError && /differ from the requested/.test(err.message),
  );
  assert.equal(issuer.issued, 0);
});

test('a CSR with a broken signature, garbage, or a non-positive lifetime is refused', async () => {
  const issuer = new MemoryIssuer();
  const good = await request();
  const body = good.csrPem.split('\n').slice(1, -2).join('');
  const der = Buffer.from(body, 'base64');
  const at = der.length - 5; // inside the signature, the last field of the CSR
  der.writeUInt8(der.readUInt8(at) ^ 0xff, at);
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(issuer.issue({ ...good, csrPem: tampered }), /invalid certificate request/);
  await assert.rejects(issuer.issue({ ...good, csrPem: 'not a csr' }), /invalid certificate request/);
  await assert.rejects(issuer.issue({ ...good, lifetimeSeconds: 0 }), /invalid certificate lifetime/);
  await issuer.issue(good);
  assert.equal(issuer.issued, 1, 'the untampered request is fine');
});

test('issuer faults are injected like the other drivers', async () => {
  const issuer = new MemoryIssuer(undefined, {
    faults: [{ method: 'issue', error: { message: 'acme busy', retryable: true } }],
  });
  const req = await request();
  await assert.rejects(issuer.issue(req), (err: unknown) => err instanceof DriverError && err.retryable);
  await issuer.issue(req);
  assert.equal(issuer.calls.get('issue'), 2);
  assert.equal(issuer.mutations, 2);
});
