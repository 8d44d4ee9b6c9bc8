import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importKeyPair, loadX509 } from '../../src/certs/x509.js';
import { memorySyncArgs, phoenix, PHOENIX_BIN, spawnPhoenix } from '../helpers/cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const GATEWAY_CERT = 'nginx.internal.thinkheads.ai';
const NAMES = [
  'nginx.internal.thinkheads.ai',
  'portainer.internal.thinkheads.ai',
  'traefik.internal.thinkheads.ai',
  'nginx-gateway-client',
  'drphoenix-agent.internal.thinkheads.ai',
];

type Run = (...a: string[]) => ReturnType<typeof phoenix>;

function withState(fn: (state: string, run: Run) => Promise<void> | void) {
  return async () => {
    const state = mkdtempSync(join(tmpdir(), 'phoenix-certs-'));
    try {
      await fn(state, (...a) =>
        phoenix(['--config-dir', EXAMPLE, '--state-dir', state, '--driver', 'memory', ...a]),
      );
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  };
}

interface ListEntry {
  name: string;
  state: string;
  serial?: string;
  notAfter?: string;
  daysLeft?: number;
  renewalDue?: string;
  renewalReason?: string;
  issuer: string;
  dnsNames: string[];
  ipAddresses: string[];
  install: Array<{ guest: string; key: string; cert: string; chain?: string }>;
}

function list(run: Run): ListEntry[] {
  const r = run('certs', 'list', '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ListEntry[];
}

function serials(run: Run): Record<string, string | undefined> {
  return Object.fromEntries(list(run).map((e) => [e.name, e.serial]));
}

function synced(run: Run): void {
  const r = run('sync', 'all');
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

interface World {
  guests: Record<
    string,
    {
      files: Record<string, { content: string; owner: string; group: string; mode: number }>;
      services: Record<string, { active: boolean; reloads: number; served?: Record<string, string> }>;
    }
  >;
}
const worldPath = (state: string) => join(state, 'memory-world.json');
const readWorld = (state: string) => JSON.parse(readFileSync(worldPath(state), 'utf8')) as World;
function editWorld(state: string, change: (w: World) => void): void {
  const w = readWorld(state);
  change(w);
  writeFileSync(worldPath(state), JSON.stringify(w));
}

function historyCount(run: Run): number {
  const r = run('history', '--json');
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as unknown[]).length;
}

test(
  'list works before anything is issued, reads only, and shows every certificate after a sync',
  withState((state, run) => {
    const before = run('certs', 'list');
    assert.equal(before.status, 0, before.stderr);
    for (const name of NAMES)
      assert.match(before.stdout, new RegExp(`^${name.replace(/\./g, '\\.')}  not issued$`, 'm'));
    assert.match(
      before.stdout,
      /installed +key 101:\/etc\/nginx\/ssl\/nginx\.internal\.thinkheads\.ai\.key, cert 101:/,
    );
    assert.match(before.stdout, /chain 101:\/etc\/nginx\/ssl\/internal-ca\.pem/);
    assert.match(before.stdout, /due now +no certificate has been issued yet/);
    const json = list(run);
    assert.deepEqual(
      json.map((e) => [e.name, e.state, e.serial]),
      NAMES.map((n) => [n, 'not issued', undefined]),
    );
    // Read-only: no journal, no lock, no store, no world were created.
    assert.deepEqual(readdirSync(state), []);

    synced(run);
    const after = list(run);
    for (const e of after) {
      assert.equal(e.state, 'valid', e.name);
      assert.match(e.serial ?? '', /^[0-9A-F]+$/);
      assert.equal(e.renewalReason, undefined, `${e.name} is not due right after issuing`);
      assert.ok(e.daysLeft! >= 29 && e.daysLeft! <= 30, `${e.name}: ${e.daysLeft} days left of 30`);
      // renew_window 0.33 of a 30-day lifetime: due about 20 days after issue, before expiry.
      const due = Date.parse(e.renewalDue!);
      const notAfter = Date.parse(e.notAfter!);
      assert.ok(Math.abs(notAfter - due - 0.33 * 30 * 86_400_000) < 3 * 60_000, `${e.name} due date`);
    }
    const gw = after.find((e) => e.name === GATEWAY_CERT)!;
    assert.deepEqual(gw.install, [
      {
        guest: '101',
        key: '/etc/nginx/ssl/nginx.internal.thinkheads.ai.key',
        cert: '/etc/nginx/ssl/nginx.internal.thinkheads.ai.crt',
      },
    ]);
    assert.deepEqual(after.find((e) => e.name === 'portainer.internal.thinkheads.ai')!.ipAddresses, [
      '10.0.0.111',
    ]);
    // The serial shown is the stored certificate's.
    const stored = readFileSync(join(state, 'certs', GATEWAY_CERT, 'cert.pem'), 'utf8');
    assert.equal(gw.serial, new X509Certificate(stored).serialNumber.toUpperCase().replace(/^(00)+/, ''));
    const plain = run('certs', 'list');
    assert.match(plain.stdout, new RegExp(`^${GATEWAY_CERT.replace(/\./g, '\\.')}  valid$`, 'm'));
    assert.match(plain.stdout, /serial +[0-9A-F]+\n/);
    assert.match(plain.stdout, /valid +\S+Z → \S+Z, \d+ day\(s\) left/);
    assert.match(plain.stdout, /renew from +\S+Z/);
  }),
);

test(
  'renew without --force after a sync renews nothing; --force re-issues exactly the named certificate and reloads',
  withState((state, run) => {
    synced(run);
    const first = serials(run);
    const metrics = join(state, 'certs.prom');

    const idle = run('certs', 'renew', '--metrics-file', metrics);
    assert.equal(idle.status, 0, idle.stdout + idle.stderr);
    assert.match(idle.stdout, /phoenix certs renew: 0 ok, \d+ unchanged, 0 failed, 0 skipped/);
    assert.deepEqual(serials(run), first);
    const idleRun = JSON.parse(run('history', 'last', '--json').stdout) as {
      run: { command: string };
      actions: Array<{ resourceId: string; action: string }>;
    };
    assert.equal(idleRun.run.command, 'phoenix certs renew');
    assert.deepEqual(
      idleRun.actions.filter((a) => a.resourceId.startsWith('cert/')),
      [],
    );
    let prom = readFileSync(metrics, 'utf8');
    for (const name of NAMES)
      assert.match(prom, new RegExp(`^phoenix_certificate_last_renewal_success\\{name="${name}"\\} 1$`, 'm'));
    assert.doesNotMatch(
      prom,
      /^phoenix_certificate_last_renewal_timestamp_seconds\{/m,
      'nothing was renewed',
    );
    assert.equal(statSync(metrics).mode & 0o777, 0o644);

    const reloadsBefore = readWorld(state).guests['101']!.services.nginx!.reloads;
    const forced = run('certs', 'renew', '--force', GATEWAY_CERT, '--metrics-file', metrics, '--json');
    assert.equal(forced.status, 0, forced.stdout + forced.stderr);
    const ends = new Map(
      forced.stdout
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as { type: string; id: string; action: string; outcome: string; reason: string },
        )
        .filter((e) => e.type === 'node-end')
        .map((e) => [e.id, e]),
    );
    assert.deepEqual(
      [ends.get(`cert/${GATEWAY_CERT}`)?.action, ends.get(`cert/${GATEWAY_CERT}`)?.outcome],
      ['replace', 'ok'],
    );
    assert.equal(ends.get(`cert/${GATEWAY_CERT}`)?.reason, 'renewal forced (--force)');
    assert.equal(ends.get('reload/101:nginx')?.outcome, 'ok', 'the follow-up reload ran');
    assert.equal(ends.get(`file/101:/etc/nginx/ssl/${GATEWAY_CERT}.crt`)?.outcome, 'ok');
    // The other certificate the reload needs comes along, but is not re-issued.
    assert.equal(ends.get('cert/nginx-gateway-client')?.outcome, 'unchanged');
    // Only the gateway certificate's part of the graph ran.
    for (const id of [
      'cert/traefik.internal.thinkheads.ai',
      'reload/102:traefik',
      'restart/1001:portainer_server',
    ])
      assert.ok(!ends.has(id), `${id} is not part of this renewal`);
    const second = serials(run);
    assert.notEqual(second[GATEWAY_CERT], first[GATEWAY_CERT]);
    for (const name of NAMES.filter((n) => n !== GATEWAY_CERT)) assert.equal(second[name], first[name], name);
    // The reload ran, and nginx now serves the new serial.
    const nginx = readWorld(state).guests['101']!.services.nginx!;
    assert.ok(nginx.reloads > reloadsBefore, 'nginx was reloaded');
    const served = new X509Certificate(nginx.served![GATEWAY_CERT]!);
    assert.equal(served.serialNumber.toUpperCase().replace(/^(00)+/, ''), second[GATEWAY_CERT]);

    prom = readFileSync(metrics, 'utf8');
    const stamp = new RegExp(
      `^phoenix_certificate_last_renewal_timestamp_seconds\\{name="${GATEWAY_CERT}"\\} (\\d+(\\.\\d+)?)$`,
      'm',
    ).exec(prom);
    assert.ok(stamp, prom);
    assert.ok(Math.abs(Number(stamp[1]) * 1000 - Date.now()) < 60_000);
    assert.equal((prom.match(/^phoenix_certificate_last_renewal_timestamp_seconds\{/gm) ?? []).length, 1);
    // Certificates this run did not touch keep their earlier outcome.
    for (const name of NAMES)
      assert.match(prom, new RegExp(`^phoenix_certificate_last_renewal_success\\{name="${name}"\\} 1$`, 'm'));
    const notAfter = Date.parse(list(run).find((e) => e.name === GATEWAY_CERT)!.notAfter!);
    assert.match(
      prom,
      new RegExp(
        `^phoenix_certificate_not_after_seconds\\{name="${GATEWAY_CERT}"\\} ${notAfter / 1000}$`,
        'm',
      ),
    );

    // And a plain renew after that renews nothing again.
    const again = run('certs', 'renew');
    assert.match(again.stdout, /: 0 ok, \d+ unchanged, 0 failed/);
    assert.deepEqual(serials(run), second);
    assert.equal(run('certs', 'status').status, 0);
  }),
);

test(
  'a renewal whose reload fails exits 1 and shows as 0 in the metrics; other certificates keep their values',
  withState((state, run) => {
    synced(run);
    const metrics = join(state, 'certs.prom');
    assert.equal(run('certs', 'renew', '--metrics-file', metrics).status, 0);
    // Something else in nginx's configuration makes every load fail: the reload after the renewal fails.
    editWorld(state, (w) => {
      w.guests['101']!.files['/etc/nginx/conf.d/zz-broken.conf'] = {
        content: Buffer.from(
          'server {\n  listen 443 ssl;\n  server_name broken.example;\n' +
            '  ssl_certificate /etc/nginx/ssl/missing.crt;\n  ssl_certificate_key /etc/nginx/ssl/missing.key;\n}\n',
        ).toString('base64'),
        owner: 'root',
        group: 'root',
        mode: 0o644,
      };
    });
    const r = run('certs', 'renew', '--force', GATEWAY_CERT, '--metrics-file', metrics);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /failed +reload\/101:nginx/);
    const prom = readFileSync(metrics, 'utf8');
    assert.match(
      prom,
      new RegExp(`^phoenix_certificate_last_renewal_success\\{name="${GATEWAY_CERT}"\\} 0$`, 'm'),
    );
    assert.doesNotMatch(prom, /^phoenix_certificate_last_renewal_timestamp_seconds\{/m, 'not delivered');
    for (const name of NAMES.filter((n) => n !== GATEWAY_CERT))
      assert.match(prom, new RegExp(`^phoenix_certificate_last_renewal_success\\{name="${name}"\\} 1$`, 'm'));
  }),
);

test(
  'renew --dry-run, even with --force, changes nothing; --force without names re-issues all',
  withState((state, run) => {
    synced(run);
    const first = serials(run);
    const world = readFileSync(worldPath(state), 'utf8');
    const dry = run('certs', 'renew', '--force', '--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /Dry run: nothing was changed/);
    assert.match(dry.stdout, /replace +cert\/nginx-gateway-client +renewal forced/);
    assert.deepEqual(serials(run), first);
    assert.equal(readFileSync(worldPath(state), 'utf8'), world);

    const all = run('certs', 'renew', '--force');
    assert.equal(all.status, 0, all.stdout + all.stderr);
    const second = serials(run);
    for (const name of NAMES) assert.notEqual(second[name], first[name], name);
    assert.match(all.stdout, /ok +restart\/1001:portainer_server/);
    assert.match(all.stdout, /ok +reload\/102:traefik/);
  }),
);

test(
  'an unknown certificate name is a usage error that lists the known ones and changes nothing',
  withState((state, run) => {
    synced(run);
    const first = serials(run);
    const world = readFileSync(worldPath(state), 'utf8');
    const runs = historyCount(run);
    const r = run('certs', 'renew', '--force', GATEWAY_CERT, 'no-such-cert');
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /unknown certificate: no-such-cert; the configuration has: nginx\.internal\.thinkheads\.ai, /,
    );
    for (const name of NAMES) assert.ok(r.stderr.includes(name), `lists ${name}`);
    assert.deepEqual(serials(run), first);
    assert.equal(readFileSync(worldPath(state), 'utf8'), world);
    assert.equal(historyCount(run), runs, 'no run was recorded');
    // cert/<name> ids are accepted too.
    const byId = run('certs', 'renew', `cert/${GATEWAY_CERT}`);
    assert.equal(byId.status, 0, byId.stderr);
  }),
);

test(
  'renew shares the lock with sync: refused at once while a sync runs',
  withState(async (state, run) => {
    const sync = spawnPhoenix(memorySyncArgs(EXAMPLE, state, 30));
    const exited = new Promise<number | null>((resolve) => sync.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !existsSync(join(state, 'phoenix.lock')); i++)
      await new Promise((r) => setTimeout(r, 25));
    assert.ok(existsSync(join(state, 'phoenix.lock')));
    const renew = run('certs', 'renew', '--force', GATEWAY_CERT);
    assert.equal(renew.status, 1);
    assert.match(renew.stderr, /another phoenix is running: pid \d+, `phoenix sync all`/);
    assert.equal(await exited, 0);
  }),
);

test(
  'status: not issued before a sync, fine after it, and not served when the gateway stops or serves another certificate',
  withState((state, run) => {
    const fresh = run('certs', 'status');
    assert.equal(fresh.status, 3);
    assert.match(fresh.stdout, /not issued/);
    assert.match(fresh.stdout, /5 of 5 certificate\(s\) need attention/);

    synced(run);
    const ok = run('certs', 'status');
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok +nginx\.internal\.thinkheads\.ai .*served for 4\/4 name\(s\) at 101:443/m);
    const okJson = JSON.parse(run('certs', 'status', '--json').stdout) as {
      ok: boolean;
      certificates: Array<{
        name: string;
        ok: boolean;
        problems: string[];
        endpoints: Array<{ servedSerial?: string }>;
      }>;
    };
    assert.equal(okJson.ok, true);
    const gwServed = okJson.certificates.find((c) => c.name === GATEWAY_CERT)!.endpoints;
    assert.equal(gwServed.length, 4);
    assert.ok(gwServed.every((e) => e.servedSerial === serials(run)[GATEWAY_CERT]));

    // nginx serves another certificate for one of the names: a serial mismatch.
    const original = readFileSync(worldPath(state), 'utf8');
    const other = readFileSync(join(state, 'certs', 'traefik.internal.thinkheads.ai', 'cert.pem'), 'utf8');
    editWorld(state, (w) => {
      w.guests['101']!.services.nginx!.served!['portainer.internal.thinkheads.ai'] = other;
    });
    const wrong = run('certs', 'status');
    assert.equal(wrong.status, 3, wrong.stdout);
    assert.match(
      wrong.stdout,
      /not served: portainer\.internal\.thinkheads\.ai at 101:443 presents serial [0-9A-F]+, the stored certificate is [0-9A-F]+/,
    );
    assert.match(wrong.stdout, /1 of 5 certificate\(s\) need attention/);

    // nginx stopped: nothing answers.
    writeFileSync(worldPath(state), original);
    editWorld(state, (w) => {
      w.guests['101']!.services.nginx!.active = false;
    });
    const stopped = run('certs', 'status', '--json');
    assert.equal(stopped.status, 3);
    const report = JSON.parse(stopped.stdout) as typeof okJson;
    assert.equal(report.ok, false);
    const gw = report.certificates.find((c) => c.name === GATEWAY_CERT)!;
    assert.equal(gw.ok, false);
    assert.equal(gw.problems.length, 4);
    assert.ok(
      gw.problems.every((p) => /^not served: .*ECONNREFUSED/.test(p)),
      gw.problems.join('\n'),
    );
    assert.ok(report.certificates.filter((c) => c.name !== GATEWAY_CERT).every((c) => c.ok));
    // status is read-only: the world is exactly as it was left.
    assert.equal(readWorld(state).guests['101']!.services.nginx!.active, false);
    assert.ok(!existsSync(join(state, 'phoenix.lock')));
  }),
);

/**
 * Replaces a stored certificate with one for the same key and names but the given validity, signed by the
 * memory world's CA (so that its dates are the only thing that differs).
 */
async function forgeStored(
  state: string,
  name: string,
  validity: { notBefore: Date; notAfter: Date },
  serialHex: string,
): Promise<void> {
  const bundlePath = join(state, 'certs', name, 'bundle.json');
  const bundle = JSON.parse(readFileSync(bundlePath, 'utf8')) as { keyPem: string; certPem: string };
  const { ca } = JSON.parse(readFileSync(worldPath(state), 'utf8')) as {
    ca: { keyPem: string; certPem: string };
  };
  const stored = new X509Certificate(bundle.certPem);
  const x509 = await loadX509();
  const forged = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: `CN=${name}`,
    issuer: new x509.X509Certificate(ca.certPem).subjectName,
    ...validity,
    publicKey: (await importKeyPair(bundle.keyPem)).keys.publicKey,
    signingKey: (await importKeyPair(ca.keyPem)).keys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        (stored.subjectAltName ?? '')
          .split(', ')
          .map((n) => ({ type: 'dns' as const, value: n.replace(/^DNS:/, '') })),
      ),
      new x509.ExtendedKeyUsageExtension(stored.keyUsage ?? []),
    ],
  });
  const pem = forged.toString('pem') + '\n';
  assert.ok(new X509Certificate(pem).checkIssued(new X509Certificate(ca.certPem)));
  writeFileSync(bundlePath, JSON.stringify({ ...bundle, certPem: pem }));
}

test(
  'status and list report an expired and an overdue certificate; renew replaces them',
  withState(async (state, run) => {
    synced(run);
    const okSerials = serials(run);
    const day = 86_400_000;
    const expiredName = 'traefik.internal.thinkheads.ai';
    await forgeStored(
      state,
      expiredName,
      { notBefore: new Date(Date.now() - 40 * day), notAfter: new Date(Date.now() - 10 * day) },
      '0badc0de',
    );
    // 25 of 30 days gone: past the renewal window (the last 33%), not expired.
    const overdueName = 'nginx-gateway-client';
    await forgeStored(
      state,
      overdueName,
      { notBefore: new Date(Date.now() - 25 * day), notAfter: new Date(Date.now() + 5 * day) },
      '0c0ffee0',
    );

    const status = run('certs', 'status');
    assert.equal(status.status, 3, status.stdout);
    assert.match(status.stdout, /^PROBLEM +traefik\.internal\.thinkheads\.ai/m);
    assert.match(status.stdout, /- expired on \S+Z/);
    assert.match(status.stdout, /^PROBLEM +nginx-gateway-client/m);
    assert.match(status.stdout, /- past its renewal due date \S+Z \(expires \S+Z\)/);
    assert.doesNotMatch(status.stdout, /does not match the configuration/, 'dates are all that differ');
    assert.match(status.stdout, /2 of 5 certificate\(s\) need attention/);
    const entries = list(run);
    const expired = entries.find((e) => e.name === expiredName)!;
    assert.equal(expired.state, 'expired');
    assert.equal(expired.serial, '0BADC0DE');
    assert.equal(expired.renewalReason, 'expired 10 days ago');
    const overdue = entries.find((e) => e.name === overdueName)!;
    assert.equal(overdue.state, 'due');
    assert.equal(overdue.daysLeft, 4);
    assert.match(
      overdue.renewalReason ?? '',
      /^expires in 5 days \(renew window 10 days, 33% of its lifetime\)$/,
    );

    const renew = run('certs', 'renew');
    assert.equal(renew.status, 0, renew.stdout + renew.stderr);
    assert.match(
      renew.stdout,
      /start +replace +cert\/traefik\.internal\.thinkheads\.ai +expired 10 days ago/,
    );
    assert.match(renew.stdout, /start +replace +cert\/nginx-gateway-client +expires in 5 days/);
    assert.match(renew.stdout, /ok +reload\/102:traefik/, 'its follow-up reload ran');
    assert.match(renew.stdout, /ok +reload\/101:nginx/, 'its follow-up reload ran');
    const after = serials(run);
    for (const other of NAMES.filter((n) => n !== expiredName && n !== overdueName))
      assert.equal(after[other], okSerials[other], `${other} was not due and is unchanged`);
    assert.notEqual(after[expiredName], '0BADC0DE');
    assert.notEqual(after[overdueName], '0C0FFEE0');
    assert.equal(run('certs', 'status').status, 0);
  }),
);

test('install-timer writes both units atomically, with the running phoenix and the current options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-timer-'));
  try {
    const units = join(dir, 'units');
    mkdirSync(units);
    const state = join(dir, 'state with space');
    const metrics = join(dir, 'textfile', 'phoenix_certs.prom');
    const r = phoenix([
      '--config-dir',
      EXAMPLE,
      '--state-dir',
      state,
      '--driver',
      'memory',
      'certs',
      'install-timer',
      '--unit-dir',
      units,
      '--on-calendar',
      'Mon..Fri 03:30',
      '--randomized-delay',
      '45min',
      '--metrics-file',
      metrics,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(units).sort(), ['phoenix-certs-renew.service', 'phoenix-certs-renew.timer']);
    const service = readFileSync(join(units, 'phoenix-certs-renew.service'), 'utf8');
    const timer = readFileSync(join(units, 'phoenix-certs-renew.timer'), 'utf8');
    for (const f of ['phoenix-certs-renew.service', 'phoenix-certs-renew.timer'])
      assert.equal(statSync(join(units, f)).mode & 0o777, 0o644);
    assert.match(service, /^\[Service\]$/m);
    assert.match(service, /^Type=oneshot$/m);
    const exec = /^ExecStart=(.*)$/m.exec(service)?.[1];
    assert.equal(
      exec,
      `${process.execPath} ${realpathSync(PHOENIX_BIN)} --config-dir ${EXAMPLE} --state-dir "${state}" --driver memory certs renew --metrics-file ${metrics}`,
    );
    assert.match(timer, /^OnCalendar=Mon\.\.Fri 03:30$/m);
    assert.match(timer, /^RandomizedDelaySec=45min$/m);
    assert.match(timer, /^Persistent=true$/m);
    assert.match(timer, /^\[Install\]\nWantedBy=timers\.target$/m);
    // It tells what to run next and does not run it.
    assert.match(r.stdout, /systemctl daemon-reload && systemctl enable --now phoenix-certs-renew\.timer/);
    assert.match(r.stdout, /Wrote .*phoenix-certs-renew\.service/);
    assert.match(r.stdout, /textfile does not exist yet/);
    // No temp files are left behind.
    assert.equal(readdirSync(units).length, 2);

    // systemd itself accepts the units, when it is there to ask.
    const analyze = spawnSync(
      'systemd-analyze',
      ['verify', join(units, 'phoenix-certs-renew.service'), join(units, 'phoenix-certs-renew.timer')],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    if (!analyze.error) assert.equal(analyze.status, 0, analyze.stderr);

    // Running it again rewrites nothing.
    const again = phoenix([
      '--config-dir',
      EXAMPLE,
      '--state-dir',
      state,
      '--driver',
      'memory',
      'certs',
      'install-timer',
      '--unit-dir',
      units,
      '--on-calendar',
      'Mon..Fri 03:30',
      '--randomized-delay',
      '45min',
      '--metrics-file',
      metrics,
    ]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /Unchanged .*phoenix-certs-renew\.service/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('install-timer refuses values that could break out of the unit, and --dry-run writes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-timer-'));
  try {
    const base = ['--config-dir', EXAMPLE, '--state-dir', join(dir, 'state'), 'certs', 'install-timer'];
    const bad: Array<[string[], RegExp]> = [
      [['--unit-dir', 'relative/dir'], /--unit-dir must be an absolute path/],
      [['--unit-dir', join(dir, 'missing')], /is not a directory/],
      [
        ['--unit-dir', dir, '--on-calendar', 'daily\nExecStartPre=/bin/sh -c id'],
        /--on-calendar .* is not a calendar expression/,
      ],
      [['--unit-dir', dir, '--on-calendar', 'daily;reboot'], /--on-calendar/],
      [
        ['--unit-dir', dir, '--randomized-delay', '1h\nUser=root'],
        /--randomized-delay .* is not a time span/,
      ],
      [['--unit-dir', dir, '--randomized-delay', '1 fortnight'], /--randomized-delay/],
      [['--unit-dir', dir, '--metrics-file', 'relative.prom'], /--metrics-file must be an absolute path/],
      [['--unit-dir', dir, '--metrics-file', '/tmp/$(id).prom'], /--metrics-file .* contains characters/],
      [['--unit-dir', dir, '--metrics-file', '/tmp/a%n.prom'], /--metrics-file/],
      [['--unit-dir', dir, '--metrics-file', '/tmp/a"b.prom'], /--metrics-file/],
    ];
    for (const [args, message] of bad) {
      const r = phoenix([...base, ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const badState = phoenix([
      '--config-dir',
      EXAMPLE,
      '--state-dir',
      join(dir, 'st;ate'),
      'certs',
      'install-timer',
      '--unit-dir',
      dir,
    ]);
    assert.equal(badState.status, 2);
    assert.match(badState.stderr, /--state-dir .* contains characters/);
    assert.deepEqual(readdirSync(dir), [], 'nothing was written');

    const dry = phoenix([...base, '--unit-dir', dir, '--no-metrics-file', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /Dry run: nothing was written/);
    assert.match(dry.stdout, /ExecStart=.* certs renew\n/);
    assert.doesNotMatch(dry.stdout, /--metrics-file/);
    assert.match(dry.stdout, /OnCalendar=daily\n/);
    assert.match(dry.stdout, /RandomizedDelaySec=1h\n/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
