import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { httpsTransport } from '../../src/drivers/ca/trust.js';
import { launchPebble, pebbleUnavailable } from '../../src/lab/pebble.js';

/**
 * The real pebble (Debian's package) launched by src/lab/pebble.ts on loopback addresses. When it is missing
 * and we are root, one `apt-get install -y pebble` is tried; the suite is skipped, saying why, only when
 * that is not possible.
 */

function ensurePebble(): string | false {
  const missing = pebbleUnavailable();
  if (missing === undefined) return false;
  if (process.getuid?.() !== 0) return `${missing}; not root, so it cannot be installed here`;
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'pebble'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 180_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    return `${missing}; apt-get install -y pebble failed: ${(err as Error).message.split('\n')[0]}`;
  }
  return pebbleUnavailable() ?? false;
}

const skip = ensurePebble();

/** Two different random 127.0.0.x (x in 2..254). */
function twoAddresses(): [string, string] {
  const a = 2 + Math.floor(Math.random() * 253);
  const b = 2 + ((a - 2 + 1 + Math.floor(Math.random() * 252)) % 253);
  return [`127.0.0.${a}`, `127.0.0.${b}`];
}

async function getJson(url: string, ca: string): Promise<Record<string, unknown>> {
  const res = await httpsTransport({ method: 'GET', url, trust: { ca }, timeoutMs: 5_000 });
  assert.equal(res.status, 200, `GET ${url}: ${res.body.slice(0, 200)}`);
  return JSON.parse(res.body) as Record<string, unknown>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function connectResult(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test(
  'pebble on a unique 127.0.0.x serves its ACME directory over TLS from the listener CA',
  { skip },
  async (t) => {
    const [address] = twoAddresses();
    const pebble = await launchPebble({ address });
    t.after(() => pebble.stop());

    assert.equal(pebble.address, address);
    const url = new URL(pebble.directoryUrl);
    assert.equal(url.protocol, 'https:');
    assert.equal(url.hostname, address);
    assert.equal(url.pathname, '/dir');

    const dir = await getJson(pebble.directoryUrl, pebble.listenerCaPem);
    for (const key of ['newNonce', 'newAccount', 'newOrder']) {
      assert.equal(typeof dir[key], 'string', `directory lacks ${key}: ${JSON.stringify(dir)}`);
      assert.ok(
        String(dir[key]).startsWith(`https://${address}:${url.port}/`),
        `${key} = ${String(dir[key])}`,
      );
    }

    assert.equal(new X509Certificate(pebble.listenerCaPem).ca, true);
  },
);

test('/roots/0 on the management port returns the issuing CA certificate', { skip }, async (t) => {
  const pebble = await launchPebble();
  t.after(() => pebble.stop());
  const pem = await pebble.rootPem();
  const root = new X509Certificate(pem);
  assert.equal(root.ca, true);
  assert.ok(root.checkIssued(root), 'the root is self-issued');
  assert.notEqual(root.fingerprint256, new X509Certificate(pebble.listenerCaPem).fingerprint256);
  assert.equal(new URL(pebble.managementUrl).hostname, pebble.address);
});

test('two pebbles run at once on different addresses', { skip }, async (t) => {
  const [a, b] = twoAddresses();
  const [one, two] = await Promise.all([launchPebble({ address: a }), launchPebble({ address: b })]);
  t.after(() => one.stop());
  t.after(() => two.stop());

  assert.notEqual(one.pid, two.pid);
  assert.equal(new URL(one.directoryUrl).hostname, a);
  assert.equal(new URL(two.directoryUrl).hostname, b);
  const [d1, d2] = await Promise.all([
    getJson(one.directoryUrl, one.listenerCaPem),
    getJson(two.directoryUrl, two.listenerCaPem),
  ]);
  assert.equal(typeof d1.newOrder, 'string');
  assert.equal(typeof d2.newOrder, 'string');
  const [r1, r2] = await Promise.all([one.rootPem(), two.rootPem()]);
  assert.notEqual(new X509Certificate(r1).fingerprint256, new X509Certificate(r2).fingerprint256);
  // Each listener CA is its own: the other pebble's is not trusted.
  await assert.rejects(
    httpsTransport({
      method: 'GET',
      url: one.directoryUrl,
      trust: { ca: two.listenerCaPem },
      timeoutMs: 5_000,
    }),
  );
});

test(
  'stop() ends the process, frees the port and removes the directory; it is idempotent',
  { skip },
  async (t) => {
    const pebble = await launchPebble({ alwaysValid: true, httpPort: 5002 });
    t.after(() => pebble.stop());
    const url = new URL(pebble.directoryUrl);
    assert.ok(alive(pebble.pid));
    assert.ok(existsSync(pebble.dir));
    assert.equal(await connectResult(url.hostname, Number(url.port)), 'connected');

    await pebble.stop();
    assert.equal(alive(pebble.pid), false, `pid ${pebble.pid} is still there`);
    assert.equal(await connectResult(url.hostname, Number(url.port)), 'ECONNREFUSED');
    const management = new URL(pebble.managementUrl);
    assert.equal(await connectResult(management.hostname, Number(management.port)), 'ECONNREFUSED');
    assert.equal(existsSync(pebble.dir), false);
    await pebble.stop();
  },
);

test('launchPebble refuses addresses outside 127.0.0.0/8', { skip }, async () => {
  await assert.rejects(launchPebble({ address: '10.0.0.5' }), /127\.0\.0\.0\/8/);
  await assert.rejects(launchPebble({ address: '0.0.0.0' }), /127\.0\.0\.0\/8/);
  await assert.rejects(launchPebble({ dnsServer: '8.8.8.8:53' }), /127\.0\.0\.0\/8/);
  await assert.rejects(launchPebble({ dnsServer: 'nonsense' }), /HOST:PORT/);
});
