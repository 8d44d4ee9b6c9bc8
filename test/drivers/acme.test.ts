import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createCsr,
  generateKey,
  keyMatchesCert,
  parseCertificate,
  splitPemChain,
} from '../../src/certs/x509.js';
import { AcmeIssuer } from '../../src/drivers/ca/acme.js';
import type { AcmeIssuerOptions } from '../../src/drivers/ca/acme.js';
import type { Http01Responder, IssueRequest } from '../../src/drivers/ca/types.js';
import { DriverError } from '../../src/drivers/errors.js';
import { launchPebble, pebbleUnavailable } from '../../src/lab/pebble.js';
import { StepCaUnavailable, ensureStepCaBinary, freeLoopbackEndpoint } from '../../src/lab/step-ca/index.js';
import { prepareCa, startCa, stopCa } from '../../src/lab/step-ca/ca.js';
import { labPaths, updateLabState } from '../../src/lab/state.js';
import { labView } from '../../src/lab/view.js';
import { createLabDrivers } from '../../src/drivers/lab/index.js';
import { analyseFixture, baseHypervisor, lxc } from '../helpers/config-fixture.js';
import type { LaunchedPebble } from '../../src/lab/pebble.js';
import { startAcmeEmulator } from './acme-emulator.js';

/**
 * AcmeIssuer against a real pebble on 127.0.0.x with real http-01: pebble resolves the names through a
 * small dnsmasq of the test's own (started and stopped by pid) and fetches the tokens from a node:http
 * server on the address those names resolve to. Skipped, saying why, when pebble or dnsmasq is missing.
 */

// Every issuance must show its challenges: pebble would otherwise reuse half of the authorizations.
process.env.PEBBLE_AUTHZREUSE = '0';

const DNSMASQ = '/usr/sbin/dnsmasq';
const DOMAIN = 'acme.internal.test';
const EAB_SECRET = 'eab-Hmac-Secret-do-not-print-5b1e';

function unavailable(): string | false {
  const pebble = pebbleUnavailable();
  if (pebble !== undefined) return pebble;
  try {
    accessSync(DNSMASQ, constants.X_OK);
  } catch {
    return `${DNSMASQ} is not installed (apt-get install dnsmasq)`;
  }
  if (process.getuid?.() !== 0) return 'dnsmasq drops privileges to nobody, which needs root';
  return false;
}
const skip = unavailable();

/** Two different random 127.0.0.x (x in 2..254). */
function twoAddresses(): [string, string] {
  const a = 2 + Math.floor(Math.random() * 253);
  const b = 2 + ((a - 2 + 1 + Math.floor(Math.random() * 252)) % 253);
  return [`127.0.0.${a}`, `127.0.0.${b}`];
}

function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const info = server.address();
      server.close(() => resolve(typeof info === 'object' && info ? info.port : 0));
    });
  });
}

/** dnsmasq answering every name under DOMAIN with `ip`, on address:port, nothing forwarded. */
async function startDns(dir: string, address: string, ip: string) {
  const port = await freePort(address);
  const conf = join(dir, 'dnsmasq.conf');
  await writeFile(
    conf,
    [
      `port=${port}`,
      `listen-address=${address}`,
      'bind-interfaces',
      'no-resolv',
      'no-hosts',
      'no-poll',
      `local=/${DOMAIN}/`,
      `address=/${DOMAIN}/${ip}`,
      `pid-file=${join(dir, 'dnsmasq.pid')}`,
      '',
    ].join('\n'),
  );
  const child = spawn(DNSMASQ, ['-k', '-C', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`${address}:${port}`]);
  for (let i = 0; ; i++) {
    const answer = await resolver.resolve4(`probe.${DOMAIN}`).catch(() => []);
    if (answer[0] === ip) break;
    if (i > 50 || child.exitCode !== null) {
      await stop();
      throw new Error(`dnsmasq on ${address}:${port} did not answer: ${stderr}`);
    }
    await sleep(50);
  }
  return { server: `${address}:${port}`, stop };
}

/** The gateway's webroot in miniature: tokens served over plain HTTP, every present/cleanup recorded. */
async function startChallengeServer(address: string, port = 0) {
  const tokens = new Map<string, string>();
  const presented: string[] = [];
  const cleaned: string[] = [];
  const fetched: string[] = [];
  const server = createHttpServer((req, res) => {
    const token = (req.url ?? '').replace('/.well-known/acme-challenge/', '');
    const answer = tokens.get(token);
    fetched.push(`${req.headers.host} ${req.url}`);
    if (answer === undefined) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(answer);
  });
  await new Promise<void>((ok) => server.listen(port, address, ok));
  const info = server.address();
  const responder: Http01Responder = {
    present(token, keyAuthorization) {
      presented.push(token);
      tokens.set(token, keyAuthorization);
      return Promise.resolve();
    },
    cleanup(token) {
      cleaned.push(token);
      tokens.delete(token);
      return Promise.resolve();
    },
  };
  return {
    port: typeof info === 'object' && info ? info.port : 0,
    responder,
    presented,
    cleaned,
    fetched,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

async function requestFor(dnsNames: string[], ipAddresses: string[] = []) {
  const key = await generateKey('ecdsa-p256');
  const names = { commonName: dnsNames[0]!, dnsNames, ipAddresses };
  const request: IssueRequest = { csrPem: await createCsr(key.keyPem, names), ...names, usage: 'server' };
  return { key, request };
}

function driverError(code: string, message: RegExp, retryable?: boolean) {
  return (err: unknown) => {
    assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    if (retryable !== undefined) assert.equal(err.retryable, retryable, err.message);
    assert.ok(!err.message.includes(EAB_SECRET));
    return true;
  };
}

test('AcmeIssuer against a real pebble with real http-01', { skip }, async (t) => {
  const [caAddress, webAddress] = twoAddresses();
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-acme-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const web = await startChallengeServer(webAddress);
  t.after(() => web.close());
  const dns = await startDns(dir, webAddress, webAddress);
  t.after(() => dns.stop());
  const pebble: LaunchedPebble = await launchPebble({
    address: caAddress,
    httpPort: web.port,
    dnsServer: dns.server,
  });
  t.after(() => pebble.stop());

  const accountKeyFile = join(dir, 'accounts', 'pebble.key');
  const issuerFor = (overrides: Partial<AcmeIssuerOptions> = {}) =>
    new AcmeIssuer({
      directoryUrl: pebble.directoryUrl,
      trustPem: pebble.listenerCaPem,
      accountKeyFile,
      rootsPem: () => pebble.rootPem(),
      email: 'admin@internal.test',
      timeoutMs: 5_000,
      pollMs: 100,
      ...overrides,
    });

  await t.test('issues for two names and an IP, answering http-01 through the responder', async () => {
    const names = [`a.${DOMAIN}`, `b.${DOMAIN}`];
    const { key, request } = await requestFor(names, [webAddress]);
    const before = web.presented.length;
    const issued = await issuerFor().issue(request, { http01: web.responder });

    const leaf = await parseCertificate(issued.certPem);
    assert.deepEqual(leaf.dnsNames.sort(), names);
    assert.deepEqual(leaf.ipAddresses, [webAddress]);
    assert.ok(await keyMatchesCert(key.keyPem, issued.certPem), 'the leaf carries the CSR key');

    // certPem: leaf + intermediate; chainPem: intermediate + pebble's root of this start.
    const served = splitPemChain(issued.certPem).map((p) => new X509Certificate(p));
    const chain = splitPemChain(issued.chainPem).map((p) => new X509Certificate(p));
    assert.equal(served.length, 2);
    assert.equal(chain.length, 2);
    const root = new X509Certificate(await pebble.rootPem());
    assert.equal(chain[1]!.fingerprint256, root.fingerprint256);
    assert.equal(chain[0]!.fingerprint256, served[1]!.fingerprint256);
    assert.ok(served[0]!.verify(served[1]!.publicKey), 'leaf signed by the intermediate');
    assert.ok(chain[0]!.verify(root.publicKey), 'intermediate signed by the root');

    // One challenge per identifier, each fetched by pebble's VA and cleaned up afterwards.
    const presented = web.presented.slice(before);
    assert.equal(presented.length, 3);
    assert.deepEqual([...web.cleaned].sort(), [...web.presented].sort());
    for (const token of presented) {
      assert.ok(
        web.fetched.some((f) => f.endsWith(`/.well-known/acme-challenge/${token}`)),
        token,
      );
    }
  });

  await t.test('the account key file is 0600 and reused by the next issuer', async () => {
    const first = await readFile(accountKeyFile, 'utf8');
    assert.match(first, /BEGIN PRIVATE KEY/);
    assert.equal((await stat(accountKeyFile)).mode & 0o777, 0o600);
    const { request } = await requestFor([`c.${DOMAIN}`]);
    await issuerFor().issue(request, { http01: web.responder });
    assert.equal(await readFile(accountKeyFile, 'utf8'), first);
    assert.deepEqual(await readdir(join(dir, 'accounts')), ['pebble.key'], 'no temporary files left');
  });

  await t.test('an account key readable by others is refused', async () => {
    const loose = join(dir, 'loose.key');
    await writeFile(loose, await readFile(accountKeyFile, 'utf8'), { mode: 0o644 });
    await chmod(loose, 0o644);
    const { request } = await requestFor([`d.${DOMAIN}`]);
    await assert.rejects(
      issuerFor({ accountKeyFile: loose }).issue(request, { http01: web.responder }),
      driverError('config', /loose\.key: mode 0644 lets others read it/),
    );
  });

  await t.test('a failed validation names the identifier and still cleans up', async () => {
    const silent: Http01Responder & { cleaned: string[] } = {
      cleaned: [],
      present: () => Promise.resolve(),
      cleanup(token) {
        this.cleaned.push(token);
        return Promise.resolve();
      },
    };
    const { request } = await requestFor([`e.${DOMAIN}`]);
    await assert.rejects(
      issuerFor().issue(request, { http01: silent }),
      driverError('ca-rejected', new RegExp(`validate e\\.${DOMAIN.replace(/\./g, '\\.')} over http-01: .+`)),
    );
    assert.equal(silent.cleaned.length, 1);
  });

  await t.test('without an http-01 responder nothing is attempted', async () => {
    const { request } = await requestFor([`f.${DOMAIN}`]);
    const keyFile = join(dir, 'never.key');
    await assert.rejects(
      issuerFor({ accountKeyFile: keyFile }).issue(request),
      driverError('config', /needs an http-01 responder/),
    );
    await assert.rejects(stat(keyFile), { code: 'ENOENT' });
  });

  await t.test('pebble 2.4.0 offers no renewalInfo: no ARI', async () => {
    const { request } = await requestFor([`g.${DOMAIN}`]);
    const issuer = issuerFor({ eab: { kid: 'unused', hmacKey: EAB_SECRET } });
    const issued = await issuer.issue(request, { http01: web.responder, replaces: undefined });
    assert.equal(await issuer.renewalInfo(issued.certPem), undefined);
    assert.ok(!JSON.stringify(issuer).includes(EAB_SECRET), 'the EAB key is not a visible property');
  });

  await t.test('a wrong trust root gives a clear TLS error, not a TypeError', async () => {
    const { request } = await requestFor([`h.${DOMAIN}`]);
    // pebble's issuing root is not what signed its listener certificate.
    const wrong = issuerFor({ trustPem: await pebble.rootPem() });
    await assert.rejects(
      wrong.issue(request, { http01: web.responder }),
      driverError(
        'ca-tls',
        new RegExp(
          `TLS verification of ACME directory ${pebble.directoryUrl.replace(/\./g, '\\.')} failed: certificate signed by an unknown authority`,
        ),
        false,
      ),
    );
    await assert.rejects(
      wrong.renewalInfo(await pebble.rootPem()),
      driverError('ca-tls', /unknown authority/),
    );
  });

  await t.test('a stopped CA is reported unreachable with its URL', async () => {
    const gone = await launchPebble({ address: caAddress });
    await gone.stop();
    const { request } = await requestFor([`i.${DOMAIN}`]);
    await assert.rejects(
      issuerFor({ directoryUrl: gone.directoryUrl }).issue(request, { http01: web.responder }),
      driverError(
        'ca-unreachable',
        new RegExp(`${gone.directoryUrl.replace(/\./g, '\\.')}: the CA is unreachable \\(ECONNREFUSED\\)`),
        true,
      ),
    );
  });
});

const stepCa = skip
  ? { binary: '', skip }
  : await ensureStepCaBinary().then(
      ({ binary }) => ({ binary, skip: false as const }),
      (err: unknown) => {
        if (err instanceof StepCaUnavailable)
          return { binary: '', skip: `step-ca cannot be built here: ${err.message}` };
        throw err;
      },
    );

test(
  "the lab's ACME issuer gets certificates from the lab step-ca's ACME provisioner",
  { skip: stepCa.skip },
  async (t) => {
    // Torn down in reverse: step-ca must stop before its directory goes (else it hangs until SIGKILL).
    const teardown: Array<() => Promise<unknown>> = [];
    t.after(async () => {
      for (const step of teardown.reverse()) await step();
    });
    const labDir = await mkdtemp(join(tmpdir(), 'phoenix-acme-lab-'));
    teardown.push(() => rm(labDir, { recursive: true, force: true }));
    const endpoint = await freeLoopbackEndpoint();
    let webAddress = twoAddresses()[0];
    if (webAddress === endpoint.address) webAddress = twoAddresses()[1];
    // step-ca validates http-01 on port 80 of the address the name resolves to, as with the lab gateway.
    const web = await startChallengeServer(webAddress, 80);
    teardown.push(() => web.close());
    const dns = await startDns(labDir, webAddress, webAddress);
    teardown.push(() => dns.stop());

    // The configured CA guest 10.0.0.x is the lab's 127.0.0.x: the lab view points the directory there.
    const analysis = await analyseFixture({
      hypervisor: { ...baseHypervisor(), step_ca: { guest: 103, port: endpoint.port } },
      lxc: {
        lxc_configs: {
          '103': lxc('step-ca', endpoint.address.replace(/^127\./, '10.'), { features: ['step_ca'] }),
        },
      },
      certificates: {
        issuers: {
          'lab-acme': {
            type: 'acme',
            directory: 'https://ca.internal.example:9000/acme/acme/directory',
            email: 'admin@internal.example',
          },
        },
        certificates: [],
      },
    });
    assert.ok(analysis.inventory, JSON.stringify(analysis.diagnostics.items));
    const inventory = labView(analysis.inventory);
    const directory = `https://${endpoint.address}:${endpoint.port}/acme/acme/directory`;
    assert.deepEqual(
      { ...inventory.issuers.get('lab-acme'), origin: undefined },
      {
        ...analysis.inventory.issuers.get('lab-acme'),
        directory,
        origin: undefined,
      },
    );

    // What `lab up` prepares and starts, on the host instead of in the CA guest's sandbox.
    const ca = await prepareCa(labPaths(labDir).ca, {
      ...endpoint,
      jwkProvisioner: 'admin',
      provisionerPassword: 'unused-in-this-test',
      acmeProvisioner: 'acme',
      dnsNames: ['localhost'],
    });
    await updateLabState(labDir, (s) => ({
      ...s,
      ca: {
        guest: 103,
        ...endpoint,
        url: ca.url,
        provisioner: 'admin',
        acmeProvisioner: 'acme',
        rootFingerprint: ca.rootFingerprint,
      },
    }));
    const running = await startCa(ca.dir, stepCa.binary, { resolver: dns.server });
    teardown.push(() => stopCa(running.pid));

    const issuer = createLabDrivers({ labDir, inventory }).issuer('lab-acme');
    assert.equal(await issuer.roots(), ca.rootPem);
    const names = [`gw.${DOMAIN}`, `www.${DOMAIN}`];
    const { key, request } = await requestFor(names);
    const issued = await issuer.issue(request, { http01: web.responder });
    assert.deepEqual((await parseCertificate(issued.certPem)).dnsNames.sort(), names);
    assert.ok(await keyMatchesCert(key.keyPem, issued.certPem));
    assert.equal(splitPemChain(issued.chainPem).at(-1), ca.rootPem);
    assert.equal(web.presented.length, 2);
    assert.deepEqual([...web.cleaned].sort(), [...web.presented].sort());
    const accountKey = join(labPaths(labDir).acmeAccounts, 'lab-acme.key');
    assert.equal((await stat(accountKey)).mode & 0o777, 0o600);
    assert.equal(await issuer.renewalInfo?.(issued.certPem), undefined, 'step-ca 0.19 offers no ARI');
  },
);

test('the directory must be https, answer 200 and be an ACME directory in JSON', async (t) => {
  const base = { accountKeyFile: '/nonexistent', rootsPem: () => Promise.resolve('') };
  assert.throws(
    () => new AcmeIssuer({ ...base, directoryUrl: 'http://127.0.0.1:1/dir' }),
    driverError('config', /must be an https:\/\/ URL/),
  );
  const ca = await startAcmeEmulator({ ari: false });
  t.after(() => ca.close());
  const at = (path: string) =>
    new AcmeIssuer({ ...base, directoryUrl: ca.directoryUrl.replace('/dir', path), trustPem: ca.rootPem });
  const cases: Array<[string, string, RegExp]> = [
    [
      '/cert',
      'ca-protocol',
      /ACME directory https:\/\/127\.0\.0\.1:\d+\/cert answered HTTP 200 but not JSON/,
    ],
    [
      '/nonce-json',
      'ca-rejected',
      /ACME directory https:\/\/127\.0\.0\.1:\d+\/nonce-json answered HTTP 404: no route/,
    ],
    ['/account/1', 'ca-protocol', /is not an ACME directory \(no newNonce, newAccount, newOrder\)/],
  ];
  for (const [path, code, message] of cases) {
    await assert.rejects(at(path).renewalInfo('unused'), driverError(code, message));
  }
});

test('the lab refuses an ACME directory outside 127.0.0.0/8 before any connection', async (t) => {
  const labDir = await mkdtemp(join(tmpdir(), 'phoenix-acme-lab-'));
  t.after(() => rm(labDir, { recursive: true, force: true }));
  // No CA guest: the lab view has nothing to point the directory at; a host name stays what it is.
  const { step_ca: _none, ...hypervisor } = baseHypervisor();
  const analysis = await analyseFixture({
    hypervisor,
    lxc: { lxc_configs: { '101': lxc('web', '10.0.0.20') } },
    certificates: {
      issuers: { public: { type: 'acme', directory: 'https://acme.example.org/directory' } },
      certificates: [],
    },
  });
  assert.ok(analysis.inventory, JSON.stringify(analysis.diagnostics.items));
  const issuer = createLabDrivers({ labDir, inventory: labView(analysis.inventory) }).issuer('public');
  const { request } = await requestFor(['web.internal.example']);
  const responder: Http01Responder = { present: () => Promise.resolve(), cleanup: () => Promise.resolve() };
  await assert.rejects(
    issuer.issue(request, { http01: responder }),
    driverError(
      'config',
      /ACME directory host of issuer "public" "acme\.example\.org" is not in 127\.0\.0\.0\/8/,
    ),
  );
});
