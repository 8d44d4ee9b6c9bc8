import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { httpsTransport } from '../../src/drivers/ca/trust.js';
import {
  alive,
  assertRan,
  EXAMPLE,
  exampleOn,
  labPhoenix,
  labSkipReason,
  newLabDir,
  recordedPids,
} from '../helpers/lab.js';

/**
 * The lab end to end, through the real CLI: `lab up`, `sync all` on examples/homelab (twice: the second
 * changes nothing), the gateway's HTTPS with a certificate from the lab CA, step-ca's /health, dnsmasq's
 * answers, and `lab down` leaving no process and no listener. Then two labs with different addresses at once.
 * Everything is on 127.0.0.0/8.
 */

const SNI = 'nginx.internal.thinkheads.ai';

const skip = await labSkipReason();

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

function resolverAt(server: string): dns.Resolver {
  const r = new dns.Resolver({ timeout: 700, tries: 1 });
  r.setServers([server]);
  return r;
}

/** The gateway's certificate for SNI, verified against `rootPem` only. */
function gatewayCert(
  host: string,
  rootPem: string,
): Promise<{ authorized: boolean; cn: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port: 443, servername: SNI, ca: rootPem }, () => {
      const c = s.getPeerCertificate();
      resolve({ authorized: s.authorized, cn: String(c.subject.CN), issuer: String(c.issuer.CN) });
      s.end();
    });
    s.once('error', reject);
  });
}

/** Checks a lab that `sync all` has built: HTTPS, /health, DNS, file ownership. */
async function assertLabServes(labDir: string, prefix: string): Promise<void> {
  const rootPem = await readFile(join(labDir, 'ca/certs/root_ca.crt'), 'utf8');
  const served = await gatewayCert(`${prefix}.153`, rootPem);
  assert.equal(served.authorized, true, 'the gateway certificate verifies against the lab CA root');
  assert.equal(served.cn, SNI);
  assert.match(served.issuer, /Phoenix lab/);

  const health = await httpsTransport({
    method: 'GET',
    url: `https://${prefix}.10:9000/health`,
    trust: { ca: rootPem },
    timeoutMs: 3000,
  });
  assert.equal(health.status, 200);
  assert.match(health.body, /"ok"/);

  assert.deepEqual(await resolverAt(`${prefix}.13:53`).resolve4(SNI), [`${prefix}.153`]);

  const key = await stat(join(labDir, 'guests/101/rootfs/etc/nginx/ssl/nginx.internal.thinkheads.ai.key'));
  assert.equal(key.uid, 100000, 'key owned by the guest root, shifted');
  assert.equal(key.gid, 33, 'key group www-data (the example maps gid 33 through)');
  assert.equal(key.mode & 0o777, 0o640);
}

async function assertLabGone(labDir: string, prefix: string, pids: Array<{ pid: number; start: number }>) {
  for (const ref of pids) assert.equal(await alive(ref), false, `pid ${ref.pid} still runs after lab down`);
  assert.equal(await tcpAnswers(`${prefix}.153`, 443), false, 'gateway :443 still answers');
  assert.equal(await tcpAnswers(`${prefix}.153`, 80), false, 'gateway :80 still answers');
  assert.equal(await tcpAnswers(`${prefix}.10`, 9000), false, 'step-ca still answers');
  await assert.rejects(resolverAt(`${prefix}.13:53`).resolve4(SNI), 'dnsmasq still answers on udp/53');
  assert.ok(labDir);
}

test(
  'lab up, sync all on the example (twice), real services answer, lab down leaves nothing',
  { skip, timeout: 600_000 },
  async (t) => {
    const lab = await newLabDir();
    t.after(async () => {
      await labPhoenix(EXAMPLE, lab, 'lab', 'down');
      await rm(lab, { recursive: true, force: true });
    });

    assertRan(await labPhoenix(EXAMPLE, lab, 'lab', 'up'), 'lab up');
    assertRan(await labPhoenix(EXAMPLE, lab, 'lab', 'up'), 'lab up (again: idempotent)');
    const first = await labPhoenix(EXAMPLE, lab, 'sync', 'all');
    assertRan(first, 'sync all');
    assert.match(first.stdout + first.stderr, /\d+ ok, \d+ unchanged, 0 failed, 0 skipped/);
    const second = await labPhoenix(EXAMPLE, lab, 'sync', 'all');
    assertRan(second, 'second sync all');
    assert.match(second.stdout + second.stderr, / 0 ok, \d+ unchanged, 0 failed, 0 skipped/);

    await assertLabServes(lab, '127.0.0');
    // The journal and certificate store live in the lab (so lab reset removes them).
    await stat(join(lab, 'state', 'journal.sqlite'));

    const status = await labPhoenix(EXAMPLE, lab, 'lab', 'status');
    assertRan(status, 'lab status');
    assert.match(status.stdout, /REAL\s+step-ca[^\n]*\/health ok/);
    assert.match(status.stdout, /REAL\s+nginx[^\n]*127\.0\.0\.153:443 open/);
    assert.match(status.stdout, /REAL\s+dnsmasq[^\n]*running/);
    assert.match(status.stdout, /EMULATED/);

    const pids = await recordedPids(lab);
    assert.ok(pids.length >= 5, `expected dnsmasq, holders, step-ca and nginx pids, got ${pids.length}`);
    assertRan(await labPhoenix(EXAMPLE, lab, 'lab', 'down'), 'lab down');
    await assertLabGone(lab, '127.0.0', pids);

    assertRan(await labPhoenix(EXAMPLE, lab, 'lab', 'reset'), 'lab reset');
    await assert.rejects(stat(lab));
  },
);

test('two labs with different addresses run at the same time', { skip, timeout: 600_000 }, async (t) => {
  // A copy of the example on 10.0.9.x (names unchanged): its lab lives on 127.0.9.x.
  const config = await exampleOn(9);
  const labA = await newLabDir();
  const labB = await newLabDir();
  t.after(async () => {
    await Promise.all([labPhoenix(EXAMPLE, labA, 'lab', 'down'), labPhoenix(config, labB, 'lab', 'down')]);
    await Promise.all([labA, labB, config].map((d) => rm(d, { recursive: true, force: true })));
  });

  const upA = async () => {
    assertRan(await labPhoenix(EXAMPLE, labA, 'lab', 'up'), 'lab up A');
    assertRan(await labPhoenix(EXAMPLE, labA, 'sync', 'all'), 'sync all A');
  };
  const upB = async () => {
    assertRan(await labPhoenix(config, labB, 'lab', 'up'), 'lab up B');
    assertRan(await labPhoenix(config, labB, 'sync', 'all'), 'sync all B');
  };
  await Promise.all([upA(), upB()]);
  await assertLabServes(labA, '127.0.0');
  await assertLabServes(labB, '127.0.9');
  // Each lab has its own CA: B's gateway does not verify against A's root.
  const rootA = await readFile(join(labA, 'ca/certs/root_ca.crt'), 'utf8');
  await assert.rejects(gatewayCert('127.0.9.153', rootA));

  const pidsA = await recordedPids(labA);
  const pidsB = await recordedPids(labB);
  assertRan(await labPhoenix(EXAMPLE, labA, 'lab', 'down'), 'lab down A');
  await assertLabGone(labA, '127.0.0', pidsA);
  for (const ref of pidsB)
    assert.equal(await alive(ref), true, `lab B's pid ${ref.pid} was stopped by A's down`);
  assertRan(await labPhoenix(config, labB, 'lab', 'down'), 'lab down B');
  await assertLabGone(labB, '127.0.9', pidsB);
});
