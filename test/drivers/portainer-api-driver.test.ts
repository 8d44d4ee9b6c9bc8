import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { PortainerApiDriver } from '../../src/drivers/portainer/api-driver.js';
import { PortainerNotReady } from '../../src/drivers/portainer/driver.js';
import type { SecretSource } from '../../src/drivers/secrets/types.js';
import { startPortainerEmulator } from '../emulators/portainer/index.js';

/** The engine-facing Portainer driver over HTTP: readiness, trust, and its own state between calls. */

const secrets: SecretSource = { read: () => Promise.resolve('a-long-enough-password-42') };

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('nothing listening: status says so, reads are "not ready", never a crash of the plan', async () => {
  const driver = new PortainerApiDriver({
    baseUrl: `https://127.0.0.1:${await freePort()}`,
    caPem: () => Promise.resolve('unused'),
    adminUser: 'admin',
    secrets,
    retries: 0,
  });
  const status = await driver.status();
  assert.equal(status.answering, false);
  await assert.rejects(driver.adminExists(), PortainerNotReady);
  await assert.rejects(driver.getStack('drphoenix', 'qdrant_service'), PortainerNotReady);
});

test('a CA root that is not there yet is asked for again on the next call', async () => {
  const emu = await startPortainerEmulator();
  try {
    let calls = 0;
    const driver = new PortainerApiDriver({
      baseUrl: emu.url,
      caPem: () => (++calls === 1 ? Promise.reject(new Error('CA not up yet')) : Promise.resolve(emu.caPem)),
      adminUser: 'admin',
      secrets,
    });
    await assert.rejects(driver.status(), /CA not up yet/);
    assert.equal((await driver.status()).answering, true);
    assert.equal(await driver.adminExists(), false);
    assert.equal(await driver.initAdmin(), 'created');
    assert.equal(await driver.adminExists(), true);
    // Before an environment exists, reads through it are "not ready", not failures.
    await assert.rejects(driver.listVolumes('drphoenix'), /no environment drphoenix yet/);
  } finally {
    await emu.close();
  }
});

test('a certificate for another name is a TLS failure, not "not ready"', async () => {
  const emu = await startPortainerEmulator();
  try {
    const driver = new PortainerApiDriver({
      baseUrl: emu.url,
      servername: 'not-portainer.example',
      caPem: () => Promise.resolve(emu.caPem),
      adminUser: 'admin',
      secrets,
      retries: 0,
    });
    const status = await driver.status();
    assert.equal(status.answering, false);
    assert.match(status.answering ? '' : status.reason, /TLS|certificate|altnames/i);
    await assert.rejects(driver.adminExists(), (e: Error) => !(e instanceof PortainerNotReady));
  } finally {
    await emu.close();
  }
});
