import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import type { Socket } from 'node:net';
import { inspect } from 'node:util';
import {
  createCsr,
  generateKey,
  keyMatchesCert,
  parseCertificate,
  splitPemChain,
} from '../../src/certs/x509.js';
import { StepCaJwkIssuer } from '../../src/drivers/ca/step-jwk.js';
import { httpsTransport } from '../../src/drivers/ca/trust.js';
import type { HttpsTransport } from '../../src/drivers/ca/trust.js';
import type { IssueRequest } from '../../src/drivers/ca/types.js';
import { DriverError } from '../../src/drivers/errors.js';
import { MemoryIssuer } from '../../src/drivers/memory/index.js';
import {
  StepCaUnavailable,
  ensureStepCaBinary,
  freeLoopbackEndpoint,
  launchStepCa,
} from '../../src/lab/step-ca/index.js';
import type { LaunchedCa } from '../../src/lab/step-ca/index.js';

/**
 * StepCaJwkIssuer against a real step-ca (Debian's sources, scripts/build-step-ca.sh) on 127.0.0.x.
 * Skipped, saying why, only when step-ca's packages cannot be installed on this machine.
 */

const PASSWORD = 'jwk-provisioner-Secret-8c1f';
const PROVISIONER = 'phoenix';
const NAMES = {
  commonName: 'nginx.internal.test',
  dnsNames: ['nginx.internal.test', 'gw.internal.test'],
  ipAddresses: ['127.0.0.153'],
};

const build = await ensureStepCaBinary().then(
  (result) => ({ ...result, skip: false as const }),
  (err: unknown) => {
    if (err instanceof StepCaUnavailable)
      return { binary: '', ms: 0, skip: `step-ca cannot be built here: ${err.message}` };
    throw err;
  },
);
const skip = build.skip;

function launch(): Promise<LaunchedCa> {
  return launchStepCa({
    binary: build.binary,
    jwkProvisioner: PROVISIONER,
    provisionerPassword: PASSWORD,
    acmeProvisioner: 'acme',
  });
}

/** The default transport, recording "METHOD /path" of every request. */
function spyTransport(): { transport: HttpsTransport; calls: string[] } {
  const calls: string[] = [];
  const transport: HttpsTransport = (req) => {
    const url = new URL(req.url);
    calls.push(`${req.method} ${url.pathname}${url.search}`);
    return httpsTransport(req);
  };
  return { transport, calls };
}

async function requestFor(overrides: Partial<IssueRequest> = {}) {
  const key = await generateKey('ecdsa-p256');
  const csrPem = await createCsr(key.keyPem, NAMES);
  const request: IssueRequest = { csrPem, ...NAMES, usage: 'server', ...overrides };
  return { key, request };
}

function issuerFor(
  ca: { url: string; rootFingerprint: string },
  overrides: Partial<ConstructorParameters<typeof StepCaJwkIssuer>[0]> = {},
) {
  return new StepCaJwkIssuer({
    url: ca.url,
    provisioner: PROVISIONER,
    password: PASSWORD,
    rootFingerprint: ca.rootFingerprint,
    timeoutMs: 5_000,
    ...overrides,
  });
}

/** A DriverError that never mentions the password. */
function driverError(code: string, retryable: boolean, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.retryable, retryable, err.message);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(PASSWORD), `the password leaked into: ${err.message}`);
    assert.ok(!String(err.stack).includes(PASSWORD));
    return true;
  };
}

test('StepCaJwkIssuer against a real step-ca', { skip }, async (t) => {
  const ca = await launch();
  t.after(() => ca.stop());

  await t.test(
    'issues a leaf with DNS and IP SANs and the requested lifetime, chained to the root',
    async () => {
      const issuer = issuerFor(ca);
      const { key, request } = await requestFor({ lifetimeSeconds: 2 * 3600 });
      const before = Date.now();
      const issued = await issuer.issue(request);

      const leaf = await parseCertificate(issued.certPem);
      assert.deepEqual(leaf.dnsNames.sort(), [...NAMES.dnsNames].sort());
      assert.deepEqual(leaf.ipAddresses, NAMES.ipAddresses);
      assert.equal(leaf.subjectDn, 'CN=nginx.internal.test');
      assert.ok(leaf.extendedKeyUsage.includes('server'));
      const expectedNotAfter = before + 2 * 3600 * 1000;
      assert.ok(
        Math.abs(leaf.notAfter.getTime() - expectedNotAfter) <= 60_000,
        `notAfter ${leaf.notAfter.toISOString()} is not 2 h (±60 s) after ${new Date(before).toISOString()}`,
      );
      assert.ok(await keyMatchesCert(key.keyPem, issued.certPem));

      // certPem = leaf + intermediate, chainPem = intermediate + root.
      const certs = splitPemChain(issued.certPem).map((pem) => new X509Certificate(pem));
      const chain = splitPemChain(issued.chainPem).map((pem) => new X509Certificate(pem));
      assert.equal(certs.length, 2);
      assert.equal(chain.length, 2);
      const [leafCert, intermediate] = certs as [X509Certificate, X509Certificate];
      const root = new X509Certificate(ca.rootPem);
      assert.equal(chain[0]!.fingerprint256, intermediate.fingerprint256);
      assert.equal(chain[1]!.fingerprint256, root.fingerprint256);
      assert.ok(
        leafCert.checkIssued(intermediate) && leafCert.verify(intermediate.publicKey),
        'leaf signed by intermediate',
      );
      assert.ok(
        intermediate.checkIssued(root) && intermediate.verify(root.publicKey),
        'intermediate signed by root',
      );
      assert.equal(await issuer.roots(), ca.rootPem);
    },
  );

  await t.test('without a lifetime, step-ca applies its default (720 h)', async () => {
    const { request } = await requestFor();
    const before = Date.now();
    const leaf = await parseCertificate((await issuerFor(ca).issue(request)).certPem);
    assert.ok(Math.abs(leaf.notAfter.getTime() - (before + 720 * 3600 * 1000)) <= 60_000);
  });

  await t.test(
    'one issuer issues again without re-reading the provisioner (one bootstrap, one key)',
    async () => {
      const { transport, calls } = spyTransport();
      const issuer = issuerFor(ca, { transport });
      await issuer.issue((await requestFor({ lifetimeSeconds: 600 })).request);
      await issuer.issue((await requestFor({ lifetimeSeconds: 600 })).request);
      assert.deepEqual(calls, [
        `GET /root/${ca.rootFingerprint}`,
        'GET /1.0/provisioners',
        'POST /1.0/sign',
        'POST /1.0/sign',
      ]);
    },
  );

  await t.test(
    'a wrong password is a clear, non-retryable error that does not contain the password',
    async () => {
      const { transport, calls } = spyTransport();
      const wrong = `${PASSWORD}-but-wrong`;
      const issuer = issuerFor(ca, { password: wrong, transport });
      await assert.rejects(issuer.issue((await requestFor()).request), (err: unknown) => {
        driverError('ca-password', false, /wrong provisioner password/)(err);
        assert.ok(!(err as Error).message.includes(wrong));
        return true;
      });
      assert.ok(!calls.includes('POST /1.0/sign'), 'nothing was sent to /1.0/sign');
    },
  );

  await t.test('a fingerprint the CA does not have is refused before any secret is used', async () => {
    const { transport, calls } = spyTransport();
    const wrongFingerprint = 'ab'.repeat(32);
    const issuer = issuerFor(ca, { rootFingerprint: wrongFingerprint, transport });
    await assert.rejects(
      issuer.issue((await requestFor()).request),
      driverError(
        'ca-rejected',
        false,
        /no root with SHA-256 fingerprint abab.*check the configured root fingerprint/,
      ),
    );
    assert.deepEqual(calls, [`GET /root/${wrongFingerprint}`]);
    await assert.rejects(issuer.roots(), /no root with SHA-256 fingerprint/);
  });

  await t.test("step-ca refusals (4xx) are not retryable and carry step-ca's message", async () => {
    const issuer = issuerFor(ca);
    const tooLong = (await requestFor({ lifetimeSeconds: 3000 * 3600 })).request;
    await assert.rejects(
      issuer.issue(tooLong),
      driverError(
        'ca-rejected',
        false,
        /step-ca refused to sign the certificate request .*→ 4\d\d\): .*duration/,
      ),
    );
    // The token authorises other names than the CSR carries.
    const otherNames = (await requestFor({ dnsNames: ['other.internal.test'] })).request;
    await assert.rejects(issuer.issue(otherNames), driverError('ca-rejected', false, /→ 4\d\d\)/));
  });

  await t.test('an unknown provisioner, or one that is not JWK, is named in the error', async () => {
    await assert.rejects(
      issuerFor(ca, { provisioner: 'nope' }).issue((await requestFor()).request),
      driverError(
        'ca-provisioner',
        false,
        /no provisioner named nope \(it has: phoenix \(JWK\), acme \(ACME\)\)/,
      ),
    );
    await assert.rejects(
      issuerFor(ca, { provisioner: 'acme' }).issue((await requestFor()).request),
      driverError('ca-provisioner', false, /acme is of type ACME, not JWK/),
    );
  });

  await t.test('invalid lifetimes are refused before any request', async () => {
    const { transport, calls } = spyTransport();
    await assert.rejects(
      issuerFor(ca, { transport }).issue((await requestFor({ lifetimeSeconds: 1.5 })).request),
      driverError('driver', false, /invalid certificate lifetime/),
    );
    assert.deepEqual(calls, []);
  });

  await t.test(
    'a server that replays the right root but cannot prove it gets a TLS error, no secret',
    async (t2) => {
      const impostor = await startImpostor(ca.rootPem);
      t2.after(() => impostor.close());
      const { transport, calls } = spyTransport();
      const issuer = issuerFor({ url: impostor.url, rootFingerprint: ca.rootFingerprint }, { transport });
      await assert.rejects(
        issuer.issue((await requestFor()).request),
        driverError(
          'ca-tls',
          false,
          /^TLS verification of step-ca GET https:\/\/127\.0\.0\.\d+:\d+\/1\.0\/provisioners failed/,
        ),
      );
      assert.deepEqual(calls, [`GET /root/${ca.rootFingerprint}`, 'GET /1.0/provisioners']);
      assert.deepEqual(
        impostor.paths,
        [`/root/${ca.rootFingerprint}`],
        'the verified request never reached HTTP',
      );
    },
  );

  await t.test('a server whose root does not match the fingerprint is refused', async (t2) => {
    const impostor = await startImpostor();
    t2.after(() => impostor.close());
    const { transport, calls } = spyTransport();
    const issuer = issuerFor({ url: impostor.url, rootFingerprint: ca.rootFingerprint }, { transport });
    await assert.rejects(
      issuer.issue((await requestFor()).request),
      driverError(
        'ca-root-mismatch',
        false,
        new RegExp(`refusing step-ca at .*expected ${ca.rootFingerprint}`),
      ),
    );
    assert.deepEqual(calls, [`GET /root/${ca.rootFingerprint}`]);
  });
});

test('a CA that does not answer in time is a retryable error naming the URL', { skip }, async (t) => {
  const endpoint = await freeLoopbackEndpoint();
  const held: Socket[] = [];
  const server = createTcpServer((socket) => {
    socket.resume();
    held.push(socket);
  });
  await new Promise<void>((ok) => server.listen(endpoint.port, endpoint.address, ok));
  t.after(() => {
    for (const socket of held) socket.destroy();
    return new Promise<void>((ok) => server.close(() => ok()));
  });
  const url = `https://${endpoint.address}:${endpoint.port}`;
  const issuer = issuerFor({ url, rootFingerprint: 'cd'.repeat(32) }, { timeoutMs: 300 });
  const started = Date.now();
  await assert.rejects(
    issuer.issue((await requestFor()).request),
    driverError(
      'ca-timeout',
      true,
      new RegExp(`${url.replace(/\./g, '\\.')}/root/.* did not answer within 300 ms`),
    ),
  );
  assert.ok(Date.now() - started < 3_000);
});

test(
  'a stopped CA is a retryable error naming the URL, for a warm and a cold issuer',
  { skip },
  async (t) => {
    const ca = await launch();
    t.after(() => ca.stop());
    const warm = issuerFor(ca);
    await warm.issue((await requestFor({ lifetimeSeconds: 600 })).request);
    await ca.stop();

    const escaped = ca.url.replace(/\./g, '\\.');
    await assert.rejects(
      warm.issue((await requestFor()).request),
      driverError(
        'ca-unreachable',
        true,
        new RegExp(`cannot reach step-ca POST ${escaped}/1\\.0/sign \\(ECONNREFUSED\\)`),
      ),
    );
    await assert.rejects(
      issuerFor(ca).issue((await requestFor()).request),
      driverError('ca-unreachable', true, new RegExp(`cannot reach step-ca GET ${escaped}/root/`)),
    );
  },
);

test('the constructor refuses what cannot be a step-ca endpoint or fingerprint', () => {
  const base = { provisioner: 'p', password: PASSWORD, timeoutMs: 1_000 };
  const fingerprint = 'ab'.repeat(32);
  assert.throws(
    () => new StepCaJwkIssuer({ ...base, url: 'http://127.0.0.1:9000', rootFingerprint: fingerprint }),
    /must be https/,
  );
  assert.throws(
    () => new StepCaJwkIssuer({ ...base, url: 'https://127.0.0.1:9000/x', rootFingerprint: fingerprint }),
    /no path/,
  );
  assert.throws(
    () => new StepCaJwkIssuer({ ...base, url: 'https://127.0.0.1:9000', rootFingerprint: 'abc' }),
    /SHA-256/,
  );
  // Colon-separated upper-case fingerprints (as openssl prints them) are accepted.
  const colons = fingerprint.toUpperCase().match(/../g)!.join(':');
  const issuer = new StepCaJwkIssuer({ ...base, url: 'https://127.0.0.1:9000/', rootFingerprint: colons });
  // The password does not show when the issuer is logged or serialised.
  assert.ok(!inspect(issuer, { depth: 5, showHidden: true }).includes(PASSWORD));
  assert.ok(!JSON.stringify(issuer).includes(PASSWORD));
});

/**
 * An HTTPS server on 127.0.0.x with a certificate from an unrelated CA. GET /root/<anything> answers
 * `rootPem` (default: the unrelated CA's own root); every request path is recorded.
 */
async function startImpostor(rootPem?: string) {
  const endpoint = await freeLoopbackEndpoint();
  const other = new MemoryIssuer(undefined, { name: 'impostor' });
  const key = await generateKey('ecdsa-p256');
  const names = { commonName: endpoint.address, dnsNames: [], ipAddresses: [endpoint.address] };
  const csrPem = await createCsr(key.keyPem, names);
  const issued = await other.issue({ csrPem, ...names, usage: 'server' });
  const served = rootPem ?? (await other.roots());
  const paths: string[] = [];
  const server = createHttpsServer({ key: key.keyPem, cert: issued.certPem }, (req, res) => {
    paths.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (req.url?.startsWith('/root/')) res.end(JSON.stringify({ ca: served }));
    else res.end(JSON.stringify({ provisioners: [], nextCursor: '' }));
  });
  await new Promise<void>((ok) => server.listen(endpoint.port, endpoint.address, ok));
  return {
    url: `https://${endpoint.address}:${endpoint.port}`,
    paths,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
