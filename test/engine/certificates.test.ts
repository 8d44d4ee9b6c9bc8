import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCertificate } from '../../src/certs/x509.js';
import type { Drivers } from '../../src/drivers/index.js';
import { ACME_CHALLENGE_DIR } from '../../src/graph/paths.js';
import { previousPath } from '../../src/resources/install.js';
import { cleanup, testEngine, type TestEngine } from '../helpers/engine.js';

/**
 * The certificate lifecycle on the in-memory world: issue → install → reload → proof that nginx serves the
 * new serial, with the faults of the analysis. The emulated nginx loads key/cert pairs like the real one
 * and keeps its old certificate when a reload cannot load the new pair (drivers/memory/nginx-model.ts).
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const GATEWAY_CERT = 'nginx.internal.thinkheads.ai';
const KEY = '/etc/nginx/ssl/nginx.internal.thinkheads.ai.key';
const CRT = '/etc/nginx/ssl/nginx.internal.thinkheads.ai.crt';
const SNI = 'portainer.internal.thinkheads.ai';

/** A copy of the example whose manifest is changed by `edit`. */
function exampleWith(edit: (manifest: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-certs-'));
  cpSync(EXAMPLE, dir, { recursive: true });
  const path = join(dir, 'certificate-manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(manifest);
  writeFileSync(path, JSON.stringify(manifest, null, 2));
  return dir;
}

type CertEntry = { common_name: string; issuer?: string; lifetime?: string; renew_window?: number };
const entries = (m: Record<string, unknown>) => m.certificates as CertEntry[];

async function served(e: TestEngine): Promise<string> {
  return (await e.mem.drivers.tls.served({ guest: 101, port: 443, serverName: SNI })).serial;
}
async function storedSerial(e: TestEngine): Promise<string> {
  return (await parseCertificate((await e.readStored(GATEWAY_CERT)).certPem)).serial;
}
function fileText(e: TestEngine, path: string): string | undefined {
  const f = e.mem.world.state.guests['101']!.files[path];
  return f ? Buffer.from(f.content, 'base64').toString('utf8') : undefined;
}
const nginxReloads = (e: TestEngine) => e.mem.world.state.guests['101']!.services.nginx?.reloads ?? 0;
const failures = (e: TestEngine) =>
  e.events.flatMap((x) =>
    x.type === 'node-end' && x.outcome === 'failed' ? [`${x.id}: ${x.error ?? x.reason}`] : [],
  );

/** Reload "succeeds" but nginx never re-reads anything: what a HUP with an unloadable pair looks like. */
function reloadKeepsOldCertificate(d: Drivers): Drivers {
  const hv = d.hypervisor;
  return {
    ...d,
    hypervisor: new Proxy(hv, {
      get(target, prop, receiver) {
        if (prop !== 'exec') return Reflect.get(target, prop, receiver) as unknown;
        return (guest: Parameters<typeof hv.exec>[0], argv: readonly string[], opts?: object) =>
          argv.join(' ') === 'systemctl reload nginx'
            ? Promise.resolve({ exitCode: 0, stdout: '', stderr: '' })
            : hv.exec(guest, argv, opts);
      },
    }),
  };
}

test('fresh system: the gateway serves the issued serial; a second sync issues nothing and reloads nothing', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    assert.equal((await e.sync()).outcome, 'ok', failures(e).join('\n'));
    assert.equal(await served(e), await storedSerial(e));
    const issued = e.mem.issuer.issued;
    const reloads = nginxReloads(e);
    const second = await e.sync();
    assert.equal(second.outcome, 'ok');
    assert.equal(e.mem.issuer.issued, issued, 'nothing issued');
    assert.equal(nginxReloads(e), reloads, 'nothing reloaded');
    assert.equal(
      fileText(e, previousPath(KEY)),
      undefined,
      'no old key is left behind once the new one is served',
    );
  } finally {
    cleanup(e);
  }
});

test('ACME on a fresh system: port 80 first, then issue over http-01, install, TLS servers, proof', async () => {
  const dir = exampleWith((m) => {
    entries(m).find((c) => c.common_name === GATEWAY_CERT)!.issuer = 'internal-acme';
  });
  const e = await testEngine(dir);
  try {
    const result = await e.sync();
    assert.equal(result.outcome, 'ok', failures(e).join('\n'));
    const at = (id: string, type: 'node-start' | 'node-end') =>
      e.events.findIndex((x) => x.type === type && 'id' in x && x.id === id);
    const cert = `cert/${GATEWAY_CERT}`;
    assert.ok(
      at('gateway-http/101', 'node-end') < at(cert, 'node-start'),
      'port 80 serves before the CA validates',
    );
    assert.ok(
      at('dns/host', 'node-end') < at(cert, 'node-start'),
      'the names resolve before the CA looks them up',
    );
    assert.ok(
      at(cert, 'node-end') < at('gateway/101', 'node-start'),
      'TLS servers only once the certificate exists',
    );
    assert.equal(await served(e), await storedSerial(e));
    const tokens = Object.keys(e.mem.world.state.guests['101']!.files).filter((p) =>
      p.startsWith(ACME_CHALLENGE_DIR),
    );
    assert.deepEqual(tokens, [], 'every challenge answer is removed');
  } finally {
    cleanup(e);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('renewal happens inside the window only (a fraction of the lifetime); --force renews anyway', async () => {
  const DAY = 86_400_000;
  let clock = Date.now() - 25 * DAY;
  const e = await testEngine(EXAMPLE, { now: () => new Date(clock) });
  try {
    // Issued 25 days ago for 720 h: 5 days left, inside the last third (10 days).
    assert.equal((await e.sync()).outcome, 'ok', failures(e).join('\n'));
    const plan = await e.plan();
    const node = plan.nodes.find((n) => n.id === `cert/${GATEWAY_CERT}`)!;
    assert.equal(node.action, 'replace');
    assert.match(node.reason, /expires in 5 days \(renew window 10 days, 33% of its lifetime\)/);

    clock = Date.now();
    const before = await storedSerial(e);
    assert.equal((await e.sync()).outcome, 'ok');
    const renewed = await storedSerial(e);
    assert.notEqual(renewed, before);
    assert.equal(await served(e), renewed);
    // Fresh now: nothing due, nothing issued.
    const issued = e.mem.issuer.issued;
    await e.sync();
    assert.equal(e.mem.issuer.issued, issued);
    assert.equal((await e.sync({ force: [GATEWAY_CERT] })).outcome, 'ok');
    assert.equal(e.mem.issuer.issued, issued + 1, 'exactly the forced certificate');
    assert.equal(await served(e), await storedSerial(e));
  } finally {
    cleanup(e);
  }
});

test('CA down: the renewal fails with the reason, the old certificate stays served, the next run repairs', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    const old = await served(e);
    e.mem.issuer.faults.push({
      method: 'issue',
      times: 5,
      error: { message: 'the CA is unreachable (ECONNREFUSED)', retryable: true },
    });
    const down = await e.sync({ force: [GATEWAY_CERT] });
    assert.equal(down.outcome, 'failed');
    assert.match(failures(e).join('\n'), /cert\/nginx\.internal\.thinkheads\.ai: .*ECONNREFUSED/);
    assert.equal(down.outcomes.get('reload/101:nginx'), 'skipped');
    assert.equal(await served(e), old);
    e.mem.issuer.faults.length = 0;
    assert.equal((await e.sync({ force: [GATEWAY_CERT] })).outcome, 'ok');
    assert.notEqual(await served(e), old);
  } finally {
    cleanup(e);
  }
});

test('nginx config test failing: previous files put back, old certificate served, node fails; next run repairs', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    const old = await served(e);
    const oldCert = fileText(e, CRT);
    e.mem.hypervisor.faults.push({
      method: 'exec',
      match: (args) => (args[1] as string[]).join(' ') === 'nginx -t',
      error: { message: 'nginx: [emerg] unknown directive "ssl_certificat" in /etc/nginx/conf.d/x.conf:3' },
    });
    const run = await e.sync({ force: [GATEWAY_CERT] });
    assert.equal(run.outcome, 'failed');
    assert.match(
      failures(e).join('\n'),
      /reload\/101:nginx: .*unknown directive.*nginx was not reloaded and serves the previous certificate; put back the previous 101:\/etc\/nginx\/ssl\/nginx\.internal\.thinkheads\.ai\.key, 101:\/etc\/nginx\/ssl\/nginx\.internal\.thinkheads\.ai\.crt/,
    );
    assert.equal(fileText(e, CRT), oldCert, 'the files on disk are the ones nginx serves');
    assert.equal(await served(e), old);
    assert.equal((await e.sync()).outcome, 'ok', failures(e).join('\n'));
    assert.equal(await served(e), await storedSerial(e));
    assert.notEqual(await served(e), old);
  } finally {
    cleanup(e);
  }
});

test('a reload that silently keeps the old certificate is caught by the served serial and rolled back', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    const old = await served(e);
    const oldKey = fileText(e, KEY);
    const run = await e.sync({
      force: [GATEWAY_CERT],
      drivers: reloadKeepsOldCertificate,
      servedDeadlineMs: 300,
    });
    assert.equal(run.outcome, 'failed');
    const why = failures(e).join('\n');
    assert.match(
      why,
      new RegExp(
        `not served within 300 ms after the reload: .*${SNI.replace(/\./g, '\\.')}:443 serves serial ${old}, installed [0-9A-F]+`,
      ),
    );
    assert.match(why, /put back the previous/);
    assert.equal(fileText(e, KEY), oldKey);
    assert.equal(await served(e), old);
    assert.equal((await e.sync()).outcome, 'ok', failures(e).join('\n'));
    assert.equal(await served(e), await storedSerial(e));
  } finally {
    cleanup(e);
  }
});

test('a crash between the key and the certificate leaves the old certificate served; the next run repairs', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    const old = await served(e);
    // The install renames the key, then the certificate: fail the second rename, as a kill there would.
    e.mem.hypervisor.faults.push({
      method: 'renameFile',
      match: (args) => args[2] === CRT,
      times: 10,
      error: { message: 'killed' },
    });
    const run = await e.sync({ force: [GATEWAY_CERT] });
    assert.equal(run.outcome, 'failed');
    assert.equal(await served(e), old, 'nginx was never told: it serves the old pair it loaded');
    e.mem.hypervisor.faults.length = 0;
    const next = await e.sync();
    assert.equal(next.outcome, 'ok', failures(e).join('\n'));
    assert.equal(next.outcomes.get('reload/101:nginx'), 'ok');
    assert.equal(await served(e), await storedSerial(e));
  } finally {
    cleanup(e);
  }
});

test('a legacy manifest (host paths, owner, permissions, a reload hook) installs through the bind mount and is served', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-legacy-'));
  cpSync(EXAMPLE, dir, { recursive: true });
  const reference = fileURLToPath(
    new URL('../../../../shared/reference/original-config/etc/certificate-manifest.json', import.meta.url),
  );
  const legacy = (JSON.parse(readFileSync(reference, 'utf8')) as Array<{ common_name: string }>).filter(
    (c) => c.common_name === GATEWAY_CERT,
  );
  writeFileSync(join(dir, 'certificate-manifest.json'), JSON.stringify(legacy));
  const e = await testEngine(dir);
  try {
    const hook = e.graph.nodes.get('reload/101:nginx');
    assert.ok(hook?.requires.includes(`file/101:${KEY}`), 'the recognised hook is a typed follow-up');
    assert.equal((await e.sync()).outcome, 'ok', failures(e).join('\n'));
    const key = e.mem.world.state.guests['101']!.files[KEY]!;
    assert.deepEqual([key.owner, key.group, key.mode], ['root', 'www-data', 0o640]);
    assert.equal(await served(e), await storedSerial(e));
  } finally {
    cleanup(e);
    rmSync(dir, { recursive: true, force: true });
  }
});
