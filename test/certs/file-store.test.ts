import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCertificateStore } from '../../src/certs/file-store.js';
import type { StoredCertificate } from '../../src/certs/store.js';

const CERT: StoredCertificate = {
  keyPem: '-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----\n',
  certPem: '-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n',
  chainPem: '-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n',
  issuer: 'step-ca',
};

function storeDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-certs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'certs');
}

const mode = (path: string) => statSync(path).mode & 0o777;

test('a saved certificate loads back as saved; an unknown one is undefined', async (t) => {
  const store = new FileCertificateStore(storeDir(t));
  assert.equal(await store.load('nginx.internal.example'), undefined);
  await store.save('nginx.internal.example', CERT);
  assert.deepEqual(await store.load('nginx.internal.example'), CERT);
  const next = { ...CERT, keyPem: CERT.keyPem.replace('A', 'A2'), issuer: 'acme' };
  await store.save('nginx.internal.example', next);
  assert.deepEqual(await store.load('nginx.internal.example'), next);
});

test('the directory is 0700, the key and bundle 0600, the public files 0644, whatever the umask', async (t) => {
  const dir = storeDir(t);
  const previous = process.umask(0o077);
  t.after(() => process.umask(previous));
  await new FileCertificateStore(dir).save('gw', CERT);
  const at = (f: string) => join(dir, 'gw', f);
  assert.equal(mode(join(dir, 'gw')), 0o700);
  assert.equal(mode(at('bundle.json')), 0o600);
  assert.equal(mode(at('key.pem')), 0o600);
  assert.equal(mode(at('cert.pem')), 0o644);
  assert.equal(mode(at('chain.pem')), 0o644);
  assert.equal(mode(at('meta.json')), 0o644);
});

test('operator copies hold the same material, and no temp files are left', async (t) => {
  const dir = storeDir(t);
  await new FileCertificateStore(dir).save('gw', CERT);
  const read = (f: string) => readFileSync(join(dir, 'gw', f), 'utf8');
  assert.equal(read('key.pem'), CERT.keyPem);
  assert.equal(read('cert.pem'), CERT.certPem);
  assert.equal(read('chain.pem'), CERT.chainPem);
  assert.deepEqual(JSON.parse(read('meta.json')), { issuer: 'step-ca' });
  assert.deepEqual(readdirSync(join(dir, 'gw')).sort(), [
    'bundle.json',
    'cert.pem',
    'chain.pem',
    'key.pem',
    'meta.json',
  ]);
});

test('load reads only the bundle: stale operator copies cannot pair an old key with a new certificate', async (t) => {
  const dir = storeDir(t);
  const store = new FileCertificateStore(dir);
  await store.save('gw', CERT);
  writeFileSync(join(dir, 'gw', 'key.pem'), 'stale');
  assert.deepEqual(await store.load('gw'), CERT);
});

test('an existing looser directory is tightened to 0700', async (t) => {
  const dir = storeDir(t);
  mkdirSync(join(dir, 'gw'), { recursive: true });
  chmodSync(join(dir, 'gw'), 0o755);
  await new FileCertificateStore(dir).save('gw', CERT);
  assert.equal(mode(join(dir, 'gw')), 0o700);
});

test('a damaged bundle is reported, not mistaken for a missing certificate', async (t) => {
  const dir = storeDir(t);
  const store = new FileCertificateStore(dir);
  await store.save('gw', CERT);
  writeFileSync(join(dir, 'gw', 'bundle.json'), JSON.stringify({ version: 1, keyPem: 'k' }));
  await assert.rejects(store.load('gw'), /not a Phoenix certificate bundle/);
});

test('names that are not plain file names are refused before anything is written', async (t) => {
  const dir = storeDir(t);
  const store = new FileCertificateStore(dir);
  for (const name of ['../escape', 'a/b', '..', '.', '', '.hidden', 'a..b', 'sp ace', 'x'.repeat(201)]) {
    await assert.rejects(store.save(name, CERT), /invalid certificate name/, JSON.stringify(name));
    await assert.rejects(store.load(name), /invalid certificate name/, JSON.stringify(name));
  }
  assert.equal(existsSync(dir), false);
  assert.equal(existsSync(join(dir, '..', 'escape')), false);
});
