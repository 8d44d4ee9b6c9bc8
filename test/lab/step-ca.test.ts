import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { httpsTransport } from '../../src/drivers/ca/trust.js';
import {
  StepCaUnavailable,
  createCaPki,
  ensureStepCaBinary,
  freeLoopbackEndpoint,
  launchStepCa,
  prepareCa,
  startCa,
  stopCa,
} from '../../src/lab/step-ca/index.js';

/**
 * The real step-ca (built from Debian's Go sources by scripts/build-step-ca.sh) set up and run by
 * src/lab/step-ca. Skipped, saying why, only when its packages cannot be installed on this machine.
 */

const PASSWORD = 'lab-provisioner-secret-Q7x!';
const build = await ensureStepCaBinary().then(
  (result) => ({ ...result, skip: false as const }),
  (err: unknown) => {
    if (err instanceof StepCaUnavailable)
      return { binary: '', ms: 0, skip: `step-ca cannot be built here: ${err.message}` };
    throw err;
  },
);
const skip = build.skip;

test('the build script is idempotent and caches the binary outside the repository', { skip }, async () => {
  const again = await ensureStepCaBinary();
  assert.equal(again.binary, build.binary);
  assert.ok(again.ms < 5_000, `a cached build should be instant, took ${again.ms} ms`);
  const repo = resolve(import.meta.dirname, '..', '..', '..');
  assert.ok(!again.binary.startsWith(`${repo}/`), `${again.binary} must not be inside ${repo}`);
  assert.match(again.binary, /\/step-ca\/[^/]+\/step-ca$/);
});

test('prepareCa writes step-ca material, secrets 0600 and a loopback ca.json', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-step-ca-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const prepared = await prepareCa(dir, {
    address: '127.0.0.77',
    port: 19443,
    jwkProvisioner: 'phoenix',
    provisionerPassword: PASSWORD,
    acmeProvisioner: 'acme',
    dnsNames: ['ca.internal.test'],
  });
  assert.equal(prepared.url, 'https://127.0.0.77:19443');

  const root = new X509Certificate(await readFile(join(dir, 'certs/root_ca.crt')));
  const intermediate = new X509Certificate(await readFile(join(dir, 'certs/intermediate_ca.crt')));
  assert.equal(prepared.rootFingerprint, createHash('sha256').update(root.raw).digest('hex'));
  assert.ok(root.ca && intermediate.ca);
  assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(intermediate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(
    intermediate.checkIssued(root) && intermediate.verify(root.publicKey),
    'intermediate signed by root',
  );
  assert.ok(root.verify(root.publicKey), 'root is self-signed');

  for (const secret of [
    'secrets/root_ca_key',
    'secrets/intermediate_ca_key',
    'secrets/provisioner-password',
  ]) {
    assert.equal((await stat(join(dir, secret))).mode & 0o777, 0o600, secret);
  }
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal(await readFile(prepared.passwordFile, 'utf8'), PASSWORD);

  const config = JSON.parse(await readFile(join(dir, 'config/ca.json'), 'utf8'));
  assert.equal(config.address, '127.0.0.77:19443');
  assert.deepEqual(config.dnsNames, ['127.0.0.77', 'ca.internal.test']);
  assert.deepEqual(config.db, { type: 'badgerv2', dataSource: join(dir, 'db') });
  assert.deepEqual(config.authority.claims, {
    minTLSCertDuration: '5m',
    maxTLSCertDuration: '2160h',
    defaultTLSCertDuration: '720h',
  });
  const [jwk, acme] = config.authority.provisioners;
  assert.deepEqual(acme, { type: 'ACME', name: 'acme', challenges: ['http-01'] });
  assert.equal(jwk.type, 'JWK');
  assert.equal(jwk.name, 'phoenix');
  assert.deepEqual(Object.keys(jwk.key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  assert.equal(jwk.key.alg, 'ES256');
  // What `step ca provisioner add --create` writes: PBES2-HS256+A128KW, 100 000 iterations, A256GCM, jwk+json.
  const header = decodeProtectedHeader(jwk.encryptedKey);
  assert.equal(header.alg, 'PBES2-HS256+A128KW');
  assert.equal(header.enc, 'A256GCM');
  assert.equal(header.cty, 'jwk+json');
  assert.equal(header.p2c, 100_000);
  assert.equal(Buffer.from(String(header.p2s), 'base64url').length, 16);
  const { plaintext } = await compactDecrypt(jwk.encryptedKey, new TextEncoder().encode(PASSWORD), {
    keyManagementAlgorithms: ['PBES2-HS256+A128KW'],
    maxPBES2Count: 100_000,
  });
  const privateJwk = JSON.parse(new TextDecoder().decode(plaintext));
  assert.equal(privateJwk.kid, jwk.key.kid);
  const derivedPublic = createPublicKey({ key: { ...privateJwk, d: undefined }, format: 'jwk' });
  assert.deepEqual(
    derivedPublic.export({ format: 'jwk' }),
    createPublicKey({ key: jwk.key, format: 'jwk' }).export({ format: 'jwk' }),
  );
  assert.ok(!JSON.stringify(config).includes(PASSWORD), 'the password is not in ca.json');

  await assert.rejects(prepareCa(dir, { ...optionsFor('127.0.0.77') }), /already exists/);
  await assert.rejects(prepareCa(join(dir, 'other'), optionsFor('10.0.0.5')), /not a loopback/);
});

test('a started step-ca is healthy over verified TLS, serves ACME, and stops by pid', { skip }, async (t) => {
  const ca = await launchStepCa({
    binary: build.binary,
    jwkProvisioner: 'phoenix',
    provisionerPassword: PASSWORD,
    acmeProvisioner: 'acme',
  });
  t.after(() => ca.stop());
  const { hostname, port } = new URL(ca.url);

  await t.test('GET /health answers {"status":"ok"} verified against the generated root', async () => {
    const res = await httpsTransport({
      method: 'GET',
      url: `${ca.url}/health`,
      trust: { ca: ca.rootPem },
      timeoutMs: 5_000,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { status: 'ok' });
    assert.equal(
      ca.rootFingerprint,
      createHash('sha256').update(new X509Certificate(ca.rootPem).raw).digest('hex'),
    );
    // step-ca agrees about the fingerprint.
    assert.match(
      await readFile(ca.logFile, 'utf8'),
      new RegExp(`X\\.509 Root Fingerprint: ${ca.rootFingerprint}`),
    );
  });

  await t.test('it listens on its own 127.0.0.x only, not on every address', async () => {
    assert.notEqual(hostname, '127.0.0.1');
    await assert.rejects(tcpConnect('127.0.0.1', Number(port)), /ECONNREFUSED/);
    await tcpConnect(hostname, Number(port));
  });

  await t.test('the ACME directory lists newNonce, newAccount and newOrder', async () => {
    const res = await httpsTransport({
      method: 'GET',
      url: `${ca.url}/acme/acme/directory`,
      trust: { ca: ca.rootPem },
      timeoutMs: 5_000,
    });
    assert.equal(res.status, 200);
    const directory = JSON.parse(res.body);
    for (const field of ['newNonce', 'newAccount', 'newOrder']) {
      assert.ok(String(directory[field]).startsWith(`${ca.url}/acme/acme/`), `${field}: ${directory[field]}`);
    }
  });

  await t.test('a TLS client that trusts another root is refused, and told it is TLS', async () => {
    const other = await createCaPki({
      rootCommonName: 'Unrelated Root',
      intermediateCommonName: 'Unrelated CA',
    });
    await assert.rejects(
      httpsTransport({
        method: 'GET',
        url: `${ca.url}/health`,
        trust: { ca: other.root.certPem },
        timeoutMs: 5_000,
      }),
      (err: Error & { kind?: string }) => err.kind === 'tls' && /TLS verification failed/.test(err.message),
    );
  });

  await t.test('stopCa ends the process and frees the port; a second stop is harmless', async () => {
    await stopCa(ca.pid);
    assert.ok(!isRunning(ca.pid), `pid ${ca.pid} still running`);
    await assert.rejects(tcpConnect(hostname, Number(port)), /ECONNREFUSED/);
    await stopCa(ca.pid);
    // A pid that is some other program (say, a reused pid) is never signalled.
    await assert.rejects(
      stopCa(process.pid),
      /refusing to stop pid \d+: it is not a step-ca started by startCa/,
    );
  });
});

test("startCa fails fast with step-ca's own words when the port is taken", { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-step-ca-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const endpoint = await freeLoopbackEndpoint();
  // Whatever holds the port: here a server that hangs up on every connection.
  const blocker = createServer((socket) => socket.destroy());
  await new Promise<void>((ok) => blocker.listen(endpoint.port, endpoint.address, ok));
  t.after(() => new Promise<void>((ok) => blocker.close(() => ok())));
  await prepareCa(dir, {
    ...endpoint,
    jwkProvisioner: 'phoenix',
    provisionerPassword: PASSWORD,
    dnsNames: [],
  });
  const started = Date.now();
  await assert.rejects(startCa(dir, build.binary, { timeoutMs: 10_000 }), (err: Error) => {
    assert.match(err.message, /exited with code \d+ before it was healthy/);
    assert.match(err.message, /address already in use/);
    return true;
  });
  assert.ok(Date.now() - started < 5_000, 'an early exit is reported without waiting for the deadline');
});

/** Neither there nor a zombie waiting for its parent to reap it. */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function optionsFor(address: string) {
  return { address, port: 19443, jwkProvisioner: 'p', provisionerPassword: PASSWORD, dnsNames: [] };
}

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((ok, fail) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      ok();
    });
    socket.once('error', fail);
  });
}
