import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyse } from '../../src/analyse.js';
import {
  GATEWAY_NAME,
  benchConfigFiles,
  benchNames,
  dnsmasqConf,
  issuanceGoal,
  issuanceTable,
  nginxConf,
  percentile,
  renewalTable,
  reportRows,
  stats,
  toolTime,
  type BatchResult,
  type RenewalRun,
} from '../../bench/certs-report.js';

/** The pure helpers of bench/certs.ts: names, config, statistics, ratios, tables. Not a timing test. */

const batch = (tool: BatchResult['tool'], mode: string, totalMs: number, extra: Partial<BatchResult> = {}) =>
  ({ tool, mode, certificates: 50, issued: 50, totalMs, counts: true, ...extra }) satisfies BatchResult;

test('bench names: zero-padded, one per certificate, in the bench domain', () => {
  assert.deepEqual(benchNames(3), ['b01.bench.test', 'b02.bench.test', 'b03.bench.test']);
  const many = benchNames(120);
  assert.equal(many.length, 120);
  assert.equal(many[0], 'b001.bench.test');
  assert.equal(many[119], 'b120.bench.test');
  assert.equal(new Set(many).size, 120);
  assert.throws(() => benchNames(0));
});

test('statistics: median of even and odd lists, nearest-rank p90', () => {
  assert.equal(stats([3, 1, 2]).median, 2);
  assert.equal(stats([4, 1, 3, 2]).median, 2.5);
  const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
  assert.equal(percentile(ten, 90), 9);
  assert.equal(percentile(ten, 100), 10);
  assert.equal(percentile([7], 90), 7);
  const s = stats(ten);
  assert.deepEqual([s.n, s.min, s.max, s.mean, s.p90], [10, 1, 10, 5.5, 9]);
  assert.throws(() => stats([]));
  assert.throws(() => percentile([1], 0));
});

test('tool time: the fastest complete counted batch; extra and incomplete batches do not count', () => {
  const batches = [
    batch('lego', 'sequential', 5000),
    batch('lego', 'parallel 8', 1200),
    batch('lego', 'parallel 16', 900, { issued: 49 }),
    batch('phoenix', 'engine', 400),
    batch('phoenix', 'direct', 300, { counts: false }),
  ];
  assert.equal(toolTime(batches, 'lego')?.mode, 'parallel 8');
  assert.equal(toolTime(batches, 'phoenix')?.mode, 'engine');
  assert.equal(toolTime(batches, 'certbot'), undefined);
});

test('ratios: each row against Phoenix, per-certificate ms from the requested count', () => {
  const rows = reportRows([batch('phoenix', 'engine', 500), batch('certbot', 'sequential', 140_000)], 500);
  assert.equal(rows[0]!.ratio, 1);
  assert.equal(rows[1]!.ratio, 280);
  assert.equal(rows[1]!.perCertMs, 2800);
  assert.ok(Number.isNaN(reportRows([batch('lego', 'x', 1)], 0)[0]!.ratio));
});

test('goal: Phoenix at least as fast as the fastest other tool, at that tool’s faster mode', () => {
  const pass = issuanceGoal([
    batch('phoenix', 'engine', 500),
    batch('lego', 'sequential', 4700),
    batch('lego', 'parallel 8', 1000),
    batch('certbot', 'parallel 8', 30_000),
  ]);
  assert.equal(pass.ok, true);
  assert.equal(pass.fastest?.tool, 'lego');
  assert.equal(pass.fastest?.mode, 'parallel 8');
  assert.equal(pass.speedup, 2);
  assert.match(pass.text, /2\.00× faster/);

  const slower = issuanceGoal([batch('phoenix', 'engine', 2000), batch('lego', 'parallel 8', 1000)]);
  assert.equal(slower.ok, false);
  assert.match(slower.text, /2\.00× slower/);

  assert.equal(issuanceGoal([batch('phoenix', 'engine', 1, { issued: 3 })]).ok, false);
  assert.match(issuanceGoal([batch('phoenix', 'engine', 1)]).text, /nothing to compare/);
});

test('issuance table: the columns asked for, failures and extra rows marked', () => {
  const rows = reportRows(
    [
      batch('phoenix', 'engine 16/4 (JWK)', 450, { maxRssMb: 98.4 }),
      batch('phoenix', 'direct 16 (JWK)', 300, { counts: false }),
      batch('lego', 'parallel 8', 1350, { issued: 48 }),
    ],
    450,
  );
  const lines = issuanceTable(rows).split('\n');
  assert.match(lines[0]!, /tool.*mode.*certificates.*total s.*per-cert ms.*ratio vs Phoenix.*peak RSS MB/);
  assert.match(lines[1]!, /^\|-+\|/);
  assert.match(lines[2]!, /phoenix.*engine 16\/4 \(JWK\).*50.*0\.45.*9.*1\.00×.*98/);
  assert.match(lines[3]!, /direct 16 \(JWK\) \(extra\)/);
  assert.match(lines[4]!, /48\/50 FAILED.*1\.35.*27.*3\.00×/);
  assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'columns are aligned');
});

test('renewal table: median, p90 and max per phase and in total', () => {
  const run = (k: number): RenewalRun => ({
    phases: { decide: 1, issue: 10 * k, install: 1, test: 10, reload: 10, served: 5 },
    totalMs: 37 + 10 * k,
    polls: 2,
    oldSerial: 'A',
    newSerial: 'B',
  });
  const text = renewalTable([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(run));
  const issue = text.split('\n').find((l) => l.startsWith('| issue'))!;
  assert.match(issue, /\| +55\.0 \| +90\.0 \| +100\.0 \|$/);
  const total = text.split('\n').find((l) => l.startsWith('| total'))!;
  assert.match(total, /\| +92\.0 \| +127\.0 \| +137\.0 \|$/);
});

test('generated configs: dnsmasq never forwards; nginx uses literal paths and loopback listens', () => {
  const dns = dnsmasqConf({ address: '127.1.2.3', port: 5353, domain: 'bench.test', answer: '127.1.2.3' });
  for (const line of [
    'port=5353',
    'listen-address=127.1.2.3',
    'no-resolv',
    'no-hosts',
    'local=/bench.test/',
    'address=/bench.test/127.1.2.3',
  ]) {
    assert.ok(dns.split('\n').includes(line), line);
  }
  assert.doesNotMatch(dns, /^server=/m);
  const conf = nginxConf({
    prefix: '/tmp/p',
    address: '127.1.2.3',
    webroot: '/tmp/w',
    serverName: GATEWAY_NAME,
    certPath: '/tmp/t/fullchain.pem',
    keyPath: '/tmp/t/privkey.pem',
  });
  assert.match(conf, /^user www-data;$/m);
  assert.match(conf, /listen 127\.1\.2\.3:80;/);
  assert.match(conf, /listen 127\.1\.2\.3:443 ssl;/);
  assert.match(conf, /ssl_certificate \/tmp\/t\/fullchain\.pem;/);
  assert.match(conf, /ssl_certificate_key \/tmp\/t\/privkey\.pem;/);
  assert.match(conf, /^pid \/tmp\/p\/nginx\.pid;$/m);
  assert.doesNotMatch(conf, /\$ssl_server_name|\/etc\/|\/var\//);
});

test('the Phoenix bench config is valid: N bench certificates and the gateway one on the JWK issuer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-bench-certs-test-'));
  try {
    writeFileSync(join(dir, 'pw'), 'secret\n');
    const files = benchConfigFiles({
      names: benchNames(5),
      caUrl: 'https://127.1.2.3:9000',
      provisioner: 'bench',
      passwordFile: join(dir, 'pw'),
      rootFingerprint: 'ab'.repeat(32),
      acmeDirectory: 'https://127.1.2.3:9000/acme/acme/directory',
    });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const a = await analyse(dir);
    assert.equal(a.diagnostics.errorCount, 0, JSON.stringify(a.diagnostics.items.slice(0, 3)));
    const certs = a.inventory!.certificates;
    assert.equal(certs.length, 6);
    assert.ok(certs.every((c) => c.issuer === 'bench' && c.keyType === 'ecdsa-p256'));
    const gw = certs.find((c) => c.name === GATEWAY_NAME)!;
    assert.equal(gw.lifetimeSeconds, 300);
    assert.equal(gw.renewWindow, 0.9);
    assert.ok(a.graph!.nodes.has('cert/b05.bench.test'));

    const acme = benchConfigFiles({
      names: ['b1.bench.test'],
      caUrl: 'https://127.1.2.3:9000',
      provisioner: 'bench',
      passwordFile: join(dir, 'pw'),
      rootFingerprint: 'ab'.repeat(32),
      acmeDirectory: 'https://127.1.2.3:9000/acme/acme/directory',
      certIssuer: 'bench-acme',
    });
    assert.match(acme['certificate-manifest.json']!, /"issuer": "bench-acme"/);
    assert.throws(() =>
      benchConfigFiles({
        names: ['b1.bench.test'],
        caUrl: 'https://x:1',
        provisioner: 'p',
        passwordFile: '/p',
        rootFingerprint: 'ab'.repeat(32),
        certIssuer: 'bench-acme',
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
