import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { createCsr, generateKey, loadX509 } from '../../src/certs/x509.js';
import { AcmeIssuer } from '../../src/drivers/ca/acme.js';
import {
  ariCertId,
  ariCertIdOf,
  parseRenewalInfo,
  renewAfterIn,
  serialBytes,
} from '../../src/drivers/ca/ari.js';
import type { Http01Responder } from '../../src/drivers/ca/types.js';
import { DriverError } from '../../src/drivers/errors.js';
import { startAcmeEmulator } from './acme-emulator.js';
import type { AcmeEmulator } from './acme-emulator.js';

/** ACME Renewal Information (RFC 9773): identifiers, windows, and an emulated CA's renewalInfo endpoint. */

const RFC_AKI = '69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4';
const RFC_ID = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';

test('the certificate identifier matches RFC 9773 §4.1', () => {
  assert.equal(ariCertIdOf(RFC_AKI, '00:87:65:43:21'), RFC_ID);
  // Serial hex as Node and @peculiar/x509 print it (no leading zero byte) gives the same DER bytes.
  assert.equal(ariCertIdOf(RFC_AKI.replace(/:/g, '').toLowerCase(), '87654321'), RFC_ID);
});

test('serial bytes are the minimal positive DER INTEGER content', () => {
  assert.deepEqual([...serialBytes('01')], [0x01]);
  assert.deepEqual([...serialBytes('7f')], [0x7f]);
  assert.deepEqual([...serialBytes('80')], [0x00, 0x80]);
  assert.deepEqual([...serialBytes('0000ff')], [0x00, 0xff]);
  assert.deepEqual([...serialBytes('123')], [0x01, 0x23]);
  assert.deepEqual([...serialBytes('00')], [0x00]);
  assert.throws(() => serialBytes('xyz'), /not hex/);
});

test('ariCertId reads the AKI and serial of a real certificate', async () => {
  const x509 = await loadX509();
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const make = (extensions: InstanceType<typeof x509.Extension>[]) =>
    x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '0087654321',
      name: [{ CN: ['ari.internal.test'] }],
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions,
    });
  const withAki = await make([new x509.AuthorityKeyIdentifierExtension(RFC_AKI.replace(/:/g, ''))]);
  assert.equal(await ariCertId(withAki.toString('pem')), RFC_ID);
  assert.equal(await ariCertId((await make([])).toString('pem')), undefined);
  await assert.rejects(ariCertId('not a certificate'), DriverError);
});

test('renewAfter is inside the window, the same for the same serial, spread over serials', () => {
  const start = new Date('2025-01-01T00:00:00Z');
  const end = new Date('2025-01-03T00:00:00Z');
  const serial = serialBytes('0087654321');
  const first = renewAfterIn(start, end, serial);
  assert.equal(renewAfterIn(start, end, serial).getTime(), first.getTime());
  const fractions = Array.from({ length: 200 }, (_, i) => {
    const at = renewAfterIn(start, end, serialBytes((i + 1).toString(16))).getTime();
    assert.ok(at >= start.getTime() && at <= end.getTime());
    assert.equal(at % 1000, 0, 'whole seconds');
    return (at - start.getTime()) / (end.getTime() - start.getTime());
  });
  assert.ok(fractions.some((f) => f < 0.25) && fractions.some((f) => f > 0.75), 'spread over the window');
});

test('parseRenewalInfo validates the window', () => {
  const ok = parseRenewalInfo(
    JSON.stringify({
      suggestedWindow: { start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z' },
      explanationURL: 'https://ca.example/why',
    }),
    RFC_ID,
  );
  assert.equal(ok.windowStart, '2025-01-01T00:00:00.000Z');
  assert.equal(ok.windowEnd, '2025-01-02T00:00:00.000Z');
  assert.equal(ok.explanationUrl, 'https://ca.example/why');
  assert.ok(ok.renewAfter >= ok.windowStart && ok.renewAfter <= ok.windowEnd);

  const bad = (body: string, message: RegExp) =>
    assert.throws(
      () => parseRenewalInfo(body, RFC_ID),
      (err: unknown) => err instanceof DriverError && err.code === 'ca-protocol' && message.test(err.message),
    );
  bad('<html>', /not JSON/);
  bad('{}', /no valid suggestedWindow/);
  bad(JSON.stringify({ suggestedWindow: { start: 'soon', end: '2025-01-02T00:00:00Z' } }), /no valid/);
  bad(
    JSON.stringify({ suggestedWindow: { start: '2025-01-02T00:00:00Z', end: '2025-01-01T00:00:00Z' } }),
    /ends .* before it starts/,
  );
});

const noResponder: Http01Responder = {
  present: () => Promise.reject(new Error('no challenge expected')),
  cleanup: () => Promise.resolve(),
};

async function setup(t: { after(fn: () => Promise<void>): void }, ari: boolean) {
  const ca = await startAcmeEmulator({ ari });
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-ari-'));
  t.after(async () => {
    await ca.close();
    await rm(dir, { recursive: true, force: true });
  });
  const issuer = new AcmeIssuer({
    directoryUrl: ca.directoryUrl,
    trustPem: ca.rootPem,
    accountKeyFile: join(dir, 'account.key'),
    rootsPem: () => Promise.resolve(ca.rootPem),
    timeoutMs: 5_000,
  });
  return { ca, issuer };
}

async function certFrom(ca: AcmeEmulator, serialHex: string): Promise<string> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  return ca.issueFor(keys.publicKey, serialHex);
}

async function request() {
  const key = await generateKey('ecdsa-p256');
  const names = { commonName: 'ari.internal.test', dnsNames: ['ari.internal.test'], ipAddresses: [] };
  return { ...names, csrPem: await createCsr(key.keyPem, names), usage: 'server' as const };
}

test('AcmeIssuer.renewalInfo asks the CA renewalInfo endpoint for the certificate id', async (t) => {
  const { ca, issuer } = await setup(t, true);
  const pem = await certFrom(ca, '0087654321');
  const id = (await ariCertId(pem))!;
  assert.match(id, /\.AIdlQyE$/);
  ca.renewal.set(id, {
    status: 200,
    body: JSON.stringify({
      suggestedWindow: { start: '2030-01-01T00:00:00Z', end: '2030-01-05T00:00:00Z' },
      explanationURL: 'https://ca.internal.test/incident',
    }),
  });

  const info = await issuer.renewalInfo(pem);
  assert.ok(info);
  assert.equal(info.windowStart, '2030-01-01T00:00:00.000Z');
  assert.equal(info.windowEnd, '2030-01-05T00:00:00.000Z');
  assert.equal(info.explanationUrl, 'https://ca.internal.test/incident');
  assert.ok(info.renewAfter > info.windowStart && info.renewAfter < info.windowEnd, info.renewAfter);
  assert.deepEqual(ca.renewalRequests, [`/renewal-info/${id}`]);
  assert.equal((await issuer.renewalInfo(pem))?.renewAfter, info.renewAfter, 'repeated runs agree');

  // A certificate the CA does not know: no opinion.
  assert.equal(await issuer.renewalInfo(await certFrom(ca, '01')), undefined);

  ca.renewal.set(id, { status: 503, body: JSON.stringify({ detail: 'maintenance' }) });
  await assert.rejects(issuer.renewalInfo(pem), (err: unknown) => {
    assert.ok(err instanceof DriverError);
    assert.equal(err.code, 'ca-server');
    assert.equal(err.retryable, true);
    assert.match(
      err.message,
      /renewalInfo https:\/\/127\.0\.0\.1:\d+\/renewal-info\/.* HTTP 503: maintenance/,
    );
    return true;
  });
});

test('a CA without renewalInfo in its directory gives no renewal information', async (t) => {
  const { ca, issuer } = await setup(t, false);
  assert.equal(await issuer.renewalInfo(await certFrom(ca, '0087654321')), undefined);
  assert.deepEqual(ca.renewalRequests, []);
});

test('a new order carries `replaces` when the CA offers ARI', async (t) => {
  const { ca, issuer } = await setup(t, true);
  const old = await certFrom(ca, '0087654321');
  const issued = await issuer.issue(await request(), { http01: noResponder, replaces: old });
  assert.match(issued.certPem, /BEGIN CERTIFICATE/);
  assert.equal(ca.orders.length, 1);
  assert.equal(ca.orders[0]!.replaces, await ariCertId(old));
  assert.deepEqual(ca.orders[0]!.identifiers, [{ type: 'dns', value: 'ari.internal.test' }]);
});

test('without ARI, or when the CA refuses `replaces`, the order goes without it', async (t) => {
  await t.test('no renewalInfo in the directory', async (t) => {
    const { ca, issuer } = await setup(t, false);
    await issuer.issue(await request(), { http01: noResponder, replaces: await certFrom(ca, '02') });
    assert.equal(ca.orders.length, 1);
    assert.equal('replaces' in ca.orders[0]!, false);
  });
  await t.test('the CA refuses it', async (t) => {
    const { ca, issuer } = await setup(t, true);
    ca.refuseReplaces = 'certificate already replaced';
    const issued = await issuer.issue(await request(), {
      http01: noResponder,
      replaces: await certFrom(ca, '03'),
    });
    assert.match(issued.chainPem, /BEGIN CERTIFICATE/);
    assert.equal(ca.orders.length, 2);
    assert.equal(typeof ca.orders[0]!.replaces, 'string');
    assert.equal('replaces' in ca.orders[1]!, false);
  });
});
