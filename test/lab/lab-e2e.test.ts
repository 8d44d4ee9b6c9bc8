import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { chmod, cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { httpsTransport } from '../../src/drivers/ca/trust.js';
import { sandboxUnsupported } from '../../src/lab/sandbox.js';
import { ensureStepCaBinary } from '../../src/lab/step-ca/index.js';
import { PHOENIX_BIN, REPO_ROOT } from '../helpers/cli.js';

/**
 * The lab end to end, through the real CLI: `lab up`, `sync all` on examples/homelab (twice: the second
 * changes nothing), the gateway's HTTPS with a certificate from the lab CA, step-ca's /health, dnsmasq's
 * answers, and `lab down` leaving no process and no listener. Then two labs with different addresses at once.
 * Everything is on 127.0.0.0/8.
 */

const EXAMPLE = join(REPO_ROOT, 'examples/homelab');
const SNI = 'nginx.internal.thinkheads.ai';

const skip =
  sandboxUnsupported() ??
  (await ensureStepCaBinary().then(
    () => undefined,
    (e: unknown) => `step-ca is not available: ${(e as Error).message.split('\n')[0]}`,
  ));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function phoenix(configDir: string, labDir: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [PHOENIX_BIN, '--config-dir', configDir, '--lab-dir', labDir, ...args],
      {
        env: { ...process.env, NO_COLOR: '1', PHOENIX_CONFIG_DIR: '', PHOENIX_STATE_DIR: '' },
        timeout: 180_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const ok = (r: Run, what: string) =>
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);

async function newLabDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-lab-'));
  await chmod(dir, 0o711); // a guest's shifted root must be able to traverse to its rootfs
  return dir;
}

/** Every pid the lab recorded: dnsmasq's, and each guest's holder and services. */
async function recordedPids(labDir: string): Promise<Array<{ pid: number; start: number }>> {
  const out: Array<{ pid: number; start: number }> = [];
  const state = JSON.parse(await readFile(join(labDir, 'lab.json'), 'utf8')) as {
    dnsmasq?: { pid: number; start: number };
  };
  if (state.dnsmasq) out.push(state.dnsmasq);
  for (const id of await readdir(join(labDir, 'guests')).catch(() => [] as string[])) {
    const run = await readFile(join(labDir, 'guests', id, 'run.json'), 'utf8').catch(() => undefined);
    if (!run) continue;
    const r = JSON.parse(run) as {
      holder: { pid: number; start: number };
      services: Array<{ pid: number; start: number }>;
    };
    out.push(r.holder, ...r.services);
  }
  return out;
}

async function alive(ref: { pid: number; start: number }): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${ref.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && Number(fields[19]) === ref.start;
  } catch {
    return false;
  }
}

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
      await phoenix(EXAMPLE, lab, 'lab', 'down');
      await rm(lab, { recursive: true, force: true });
    });

    ok(await phoenix(EXAMPLE, lab, 'lab', 'up'), 'lab up');
    ok(await phoenix(EXAMPLE, lab, 'lab', 'up'), 'lab up (again: idempotent)');
    const first = await phoenix(EXAMPLE, lab, 'sync', 'all');
    ok(first, 'sync all');
    assert.match(first.stdout + first.stderr, /\d+ ok, \d+ unchanged, 0 failed, 0 skipped/);
    const second = await phoenix(EXAMPLE, lab, 'sync', 'all');
    ok(second, 'second sync all');
    assert.match(second.stdout + second.stderr, / 0 ok, \d+ unchanged, 0 failed, 0 skipped/);

    await assertLabServes(lab, '127.0.0');
    // The journal and certificate store live in the lab (so lab reset removes them).
    await stat(join(lab, 'state', 'journal.sqlite'));

    const status = await phoenix(EXAMPLE, lab, 'lab', 'status');
    ok(status, 'lab status');
    assert.match(status.stdout, /REAL\s+step-ca[^\n]*\/health ok/);
    assert.match(status.stdout, /REAL\s+nginx[^\n]*127\.0\.0\.153:443 open/);
    assert.match(status.stdout, /REAL\s+dnsmasq[^\n]*running/);
    assert.match(status.stdout, /EMULATED/);

    const pids = await recordedPids(lab);
    assert.ok(pids.length >= 5, `expected dnsmasq, holders, step-ca and nginx pids, got ${pids.length}`);
    ok(await phoenix(EXAMPLE, lab, 'lab', 'down'), 'lab down');
    await assertLabGone(lab, '127.0.0', pids);

    ok(await phoenix(EXAMPLE, lab, 'lab', 'reset'), 'lab reset');
    await assert.rejects(stat(lab));
  },
);

test('two labs with different addresses run at the same time', { skip, timeout: 600_000 }, async (t) => {
  // A copy of the example on 10.0.9.x (names unchanged): its lab lives on 127.0.9.x.
  const config = await mkdtemp(join(tmpdir(), 'phoenix-lab-config-'));
  await cp(EXAMPLE, config, { recursive: true });
  const rewrite = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await rewrite(p);
      else await writeFile(p, (await readFile(p, 'utf8')).replaceAll('10.0.0.', '10.0.9.'));
    }
  };
  await rewrite(config);
  const labA = await newLabDir();
  const labB = await newLabDir();
  t.after(async () => {
    await Promise.all([phoenix(EXAMPLE, labA, 'lab', 'down'), phoenix(config, labB, 'lab', 'down')]);
    await Promise.all([labA, labB, config].map((d) => rm(d, { recursive: true, force: true })));
  });

  const upA = async () => {
    ok(await phoenix(EXAMPLE, labA, 'lab', 'up'), 'lab up A');
    ok(await phoenix(EXAMPLE, labA, 'sync', 'all'), 'sync all A');
  };
  const upB = async () => {
    ok(await phoenix(config, labB, 'lab', 'up'), 'lab up B');
    ok(await phoenix(config, labB, 'sync', 'all'), 'sync all B');
  };
  await Promise.all([upA(), upB()]);
  await assertLabServes(labA, '127.0.0');
  await assertLabServes(labB, '127.0.9');
  // Each lab has its own CA: B's gateway does not verify against A's root.
  const rootA = await readFile(join(labA, 'ca/certs/root_ca.crt'), 'utf8');
  await assert.rejects(gatewayCert('127.0.9.153', rootA));

  const pidsA = await recordedPids(labA);
  const pidsB = await recordedPids(labB);
  ok(await phoenix(EXAMPLE, labA, 'lab', 'down'), 'lab down A');
  await assertLabGone(labA, '127.0.0', pidsA);
  for (const ref of pidsB)
    assert.equal(await alive(ref), true, `lab B's pid ${ref.pid} was stopped by A's down`);
  ok(await phoenix(config, labB, 'lab', 'down'), 'lab down B');
  await assertLabGone(labB, '127.0.9', pidsB);
});
