import { forEachFlag } from './args.js';
import { issueAndStore } from '../src/certs/issue.js';
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { analyse } from '../src/analyse.js';
import { FileCertificateStore } from '../src/certs/file-store.js';
import { renewalReason } from '../src/certs/policy.js';
import { parseCertificate, splitPemChain } from '../src/certs/x509.js';
import { StepCaJwkIssuer } from '../src/drivers/ca/step-jwk.js';
import { createMemoryDrivers } from '../src/drivers/memory/index.js';
import { servedCertificateAt } from '../src/drivers/probe/tls.js';
import { ensureStepCaBinary, prepareCa, startCa, stopCa } from '../src/lab/step-ca/index.js';
import type { Certificate } from '../src/model/inventory.js';
import { observeCertificate } from '../src/resources/cert.js';
import type { Context } from '../src/resources/types.js';
import type { PhoenixMeasurement } from './certs-phoenix.js';
import {
  BENCH_DOMAIN,
  GATEWAY_NAME,
  RENEWAL_PHASES,
  benchConfigFiles,
  benchNames,
  issuanceGoal,
  issuanceTable,
  renewalTable,
  reportRows,
  seconds,
  stats,
  toolTime,
  type BatchResult,
  type RenewalPhase,
  type RenewalRun,
  type Stats,
} from './certs-report.js';
import {
  Cleanup,
  Nginx,
  freePort,
  pickBenchAddress,
  run,
  runPool,
  startDnsmasq,
  stopRunningChildren,
  tail,
  type RunResult,
} from './certs-services.js';

/**
 * The certificate issuance benchmark: `npm run bench -- --certs` (node dist/bench/certs.js [options]).
 *
 * Method. One run starts, all on one random 127.x.y.z (nothing leaves 127/8, nothing in /etc is touched):
 * a real step-ca (built from Debian's source, src/lab/step-ca) with a JWK and an ACME provisioner, whose
 * `--resolver` is a dnsmasq (no-resolv, no-hosts) answering `*.bench.test` with that address; and a real
 * nginx (root master, www-data worker, own prefix) serving the http-01 webroot on :80 and the gateway's TLS
 * server on :443 with literal certificate paths.
 *
 * 1. Issuance: N certificates (default 50, one name each, ECDSA P-256) against that step-ca —
 *    - Phoenix: ONE process (bench/certs-phoenix.ts) running `sync` of the N cert nodes through the real
 *      engine as the CLI wires it (traced drivers, journal, file certificate store, CLI default concurrency
 *      16/4), with the memory hypervisor and the real step-ca JWK issuer (src/drivers/ca/step-jwk.ts). Timed
 *      from spawn to exit (Node start, module loading and analyse included), like the other tools, with a
 *      fresh state directory each time. Extra rows, once each: the engine at concurrency 1, the issuer called
 *      directly (key + CSR + issue + store through mapLimit at 16), and, when src/drivers/ca/acme.ts works,
 *      Phoenix's ACME issuer the same way (http-01 into the webroot).
 *    - lego (4.9.1) and certbot (2.1.0), the Debian packages, against the ACME provisioner, http-01 by
 *      webroot: one process per certificate, run sequentially (as one cron job) and by a pool of P workers
 *      (default 8), each worker with its own account and directories. The faster mode is the tool's time.
 *    Rounds (default 3) interleave the contenders so that a noisy moment hits all of them; a batch that took
 *    over 15 s (certbot) runs in the first round only. Each figure is the median of its rounds. Every
 *    certificate is checked afterwards (exists, carries its name, issued by the bench CA's intermediate); a
 *    batch with a missing certificate does not count.
 *    Goal: Phoenix at least as fast as the fastest of lego and certbot.
 * 2. Renewal → served, for the gateway certificate (5 min lifetime, renew window 0.9: due once issued), R
 *    times (default 10, after one warm-up): Phoenix's renewal policy says due → key + CSR + step-ca JWK sign
 *    + store → key (0640 root:www-data) and certificate written as temp file + rename → `nginx -t` →
 *    `nginx -s reload` → TLS handshakes (servedCertificateAt) until the served serial is the new one.
 *    Median and p90 per phase and in total.
 *
 * Everything started is stopped by pid (step-ca, dnsmasq, the nginx master and workers, any running
 * client), also on failure and on SIGINT/SIGTERM, and the temp directory is removed (unless --keep).
 * Results: a table (or JSON with --json) and bench/results/certs.json.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench → the checkout. */
const ROOT = resolve(HERE, '..', '..');
const PHOENIX_CHILD = join(HERE, 'certs-phoenix.js');
const RESULTS = join(ROOT, 'bench', 'results', 'certs.json');
const LEGO = '/usr/bin/lego';
const CERTBOT = '/usr/bin/certbot';
const PROVISIONER = 'bench';
const ACME_PROVISIONER = 'acme';
const INTERMEDIATE_CN = 'Phoenix Bench Intermediate CA';
const EMAIL = `bench@${BENCH_DOMAIN}`;
const POLL_INTERVAL_MS = 5;
const SERVE_TIMEOUT_MS = 10_000;
/** A tool batch shorter than this is run again in later rounds; longer ones run once. */
const SHORT_BATCH_MS = 15_000;

interface Options {
  count: number;
  parallel: number;
  runs: number;
  reloadRuns: number;
  tools: Array<'lego' | 'certbot'>;
  sequential: boolean;
  json: boolean;
  keep: boolean;
  /** Write a V8 CPU profile of every Phoenix process into this directory. */
  profileDir?: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    count: 50,
    parallel: 8,
    runs: 3,
    reloadRuns: 10,
    tools: ['lego', 'certbot'],
    sequential: true,
    json: false,
    keep: false,
  };
  forEachFlag(argv, fail, ({ name: flag, arg, value, positive }) => {
    switch (flag) {
      case '--certs':
        break; // the selector of bench/run.ts
      case '--count':
        opts.count = positive(value());
        break;
      case '--parallel':
        opts.parallel = positive(value());
        break;
      case '--runs':
        opts.runs = positive(value());
        break;
      case '--reload-runs':
        opts.reloadRuns = positive(value());
        break;
      case '--tools': {
        const list = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const t of list) if (t !== 'lego' && t !== 'certbot') fail(`--tools: unknown tool "${t}"`);
        opts.tools = list as Options['tools'];
        break;
      }
      case '--no-sequential':
        opts.sequential = false;
        break;
      case '--json':
        opts.json = true;
        break;
      case '--cpu-prof-dir':
        opts.profileDir = resolve(value());
        break;
      case '--keep':
        opts.keep = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(
          'usage: node dist/bench/certs.js [--count 50] [--parallel 8] [--runs 3] [--reload-runs 10]\n' +
            '         [--tools lego,certbot] [--no-sequential] [--json] [--keep] [--cpu-prof-dir DIR]\n' +
            '   or: npm run bench -- --certs [the same options]\n',
        );
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${arg}`);
    }
  });
  return opts;
}

function fail(message: string): never {
  process.stderr.write(`bench certs: ${message}\n`);
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const f0 = (n: number) => n.toFixed(0);

/** The gid of www-data from /etc/group (read only), else Debian's 33. */
async function wwwDataGid(): Promise<number> {
  const text = await readFile('/etc/group', 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith('www-data:'));
  const gid = Number(line?.split(':')[2]);
  return Number.isInteger(gid) ? gid : 33;
}

/** temp file with final owner and mode, then rename: readers see the old file or the new one, never half. */
async function installFile(path: string, data: string, mode: number, uid: number, gid: number) {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await chown(tmp, uid, gid);
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Why `pem` is not a good certificate for `name` from the bench CA, or undefined when it is. */
function checkCertificate(pem: string, name: string): string | undefined {
  const first = splitPemChain(pem)[0];
  if (!first) return 'no certificate in the file';
  const cert = new X509Certificate(first);
  if (cert.checkHost(name) === undefined) return `the certificate does not name ${name}`;
  if (!cert.issuer.includes(INTERMEDIATE_CN)) return `issued by ${cert.issuer.replace(/\n/g, ', ')}`;
  return undefined;
}

async function checkFile(path: string, name: string): Promise<string | undefined> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch {
    return `${path} is missing`;
  }
  return checkCertificate(pem, name);
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, no) => {
    const req = get(url, { timeout: 3_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', no);
  });
}

interface PhoenixRun {
  readonly wallMs: number;
  readonly measurement: PhoenixMeasurement;
  readonly verified: number;
  readonly problems: string[];
}

interface ToolRun {
  readonly totalMs: number;
  readonly issued: number;
  /** One client process, from spawn to exit. */
  readonly processMs: Stats | null;
  readonly firstProblem?: string;
}

/** The middle element by `key` (the upper middle of an even count). */
function medianBy<T>(items: readonly T[], key: (t: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[items.length >> 1]!;
}

/** Phoenix's batch: median process of `runs`; the note says where its time went. */
function phoenixBatch(
  record: Record<string, PhoenixRun[]>,
  key: string,
  mode: string,
  runs: PhoenixRun[],
  counts: boolean,
  certificates: number,
): BatchResult {
  record[key] = runs;
  const mid = medianBy(runs, (r) => r.wallMs);
  const m = mid.measurement;
  const ms = (n: number | undefined) => (n === undefined ? '–' : f0(n));
  const what = m.mode === 'engine' ? 'sync' : 'issuing';
  return {
    tool: 'phoenix',
    mode,
    certificates,
    issued: Math.min(...runs.map((r) => r.verified)),
    totalMs: mid.wallMs,
    counts,
    maxRssMb: Math.max(...runs.map((r) => r.measurement.maxRssMb)),
    note:
      (runs.length > 1
        ? `median of ${runs.length} processes (${runs.map((r) => f0(r.wallMs)).join('/')} ms); `
        : '') +
      `process start ${ms(m.startupMs)} + analyse ${ms(m.analyseMs)} + ${what} ${ms(m.issueMs)} ms` +
      (m.observeMs === undefined ? '' : ` (observe ${ms(m.observeMs)}, journal ${ms(m.journalMs)})`) +
      `; per certificate median ${ms(m.certMs?.median)} ms, issue() median ${ms(m.issueCallMs?.median)} / max ${ms(m.issueCallMs?.max)} ms` +
      `; event loop ${(m.eventLoopUtilization * 100).toFixed(0)}% busy` +
      (runs.some((r) => r.problems.length) ? `; problems: ${runs.flatMap((r) => r.problems)[0]}` : ''),
  };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const names = benchNames(opts.count);
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`bench certs: ${signal}: stopping everything it started …`);
    stopRunningChildren();
    void cleanup.run().then((failures) => {
      for (const f of failures) log(`  cleanup: ${f}`);
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    return await bench(opts, names, cleanup, () => interrupted);
  } catch (err) {
    // After an interrupt, failures of what was stopped under the bench's feet are expected.
    if (interrupted) return 130;
    throw err;
  } finally {
    if (!interrupted) {
      const failures = await cleanup.run();
      for (const f of failures) log(`bench certs: cleanup: ${f}`);
    }
  }
}

async function bench(
  opts: Options,
  names: string[],
  cleanup: Cleanup,
  stopped: () => boolean,
): Promise<number> {
  for (const [tool, path] of [
    ['lego', LEGO],
    ['certbot', CERTBOT],
  ] as const) {
    if (opts.tools.includes(tool) && !existsSync(path)) {
      fail(`${path} is missing (apt-get install ${tool}), or leave it out with --tools`);
    }
  }
  if (!existsSync(PHOENIX_CHILD)) fail(`${PHOENIX_CHILD} is missing; run npm run build first`);
  if (process.getuid?.() !== 0) fail('needs root: step-ca validates http-01 on port 80, nginx runs as root');

  // ---- setup
  const setup0 = performance.now();
  const { binary, ms: buildMs } = await ensureStepCaBinary();
  log(`bench certs: step-ca ${binary}${buildMs ? ` (built in ${f0(buildMs)} ms)` : ''}`);
  const root = await mkdtemp(join(tmpdir(), 'phoenix-bench-certs-'));
  if (opts.keep) log(`bench certs: keeping ${root}`);
  else cleanup.add(`remove ${root}`, () => rm(root, { recursive: true, force: true }));
  // www-data (nginx's worker) must reach the webroot: traverse-only for the others, nothing listable.
  await chmod(root, 0o711);

  const address = await pickBenchAddress();
  const dns = await startDnsmasq(
    join(root, 'dns'),
    { address, domain: BENCH_DOMAIN, answer: address, probeName: names[0]! },
    cleanup,
  );
  log(`bench certs: ${address}: dnsmasq ${dns.server} (pid ${dns.ref.pid}) answers *.${BENCH_DOMAIN}`);

  const caDir = join(root, 'ca');
  const caPort = await freePort(address);
  const prepared = await prepareCa(caDir, {
    address,
    port: caPort,
    jwkProvisioner: PROVISIONER,
    provisionerPassword: randomBytes(24).toString('base64url'),
    acmeProvisioner: ACME_PROVISIONER,
    dnsNames: ['localhost'],
    rootCommonName: 'Phoenix Bench Root CA',
    intermediateCommonName: INTERMEDIATE_CN,
  });
  const ca = await startCa(caDir, binary, { resolver: dns.server });
  cleanup.add(`step-ca pid ${ca.pid}`, () => stopCa(ca.pid));
  const rootFile = join(caDir, 'certs', 'root_ca.crt');
  const acmeDirectory = `${ca.url}/acme/${ACME_PROVISIONER}/directory`;
  log(`bench certs: step-ca ${ca.url} (pid ${ca.pid}), ACME directory ${acmeDirectory}`);

  const webroot = join(root, 'webroot');
  await mkdir(join(webroot, '.well-known', 'acme-challenge'), { recursive: true, mode: 0o755 });
  for (const d of [webroot, join(webroot, '.well-known'), join(webroot, '.well-known', 'acme-challenge')]) {
    await chmod(d, 0o755);
  }

  const configOptions = {
    names,
    caUrl: ca.url,
    provisioner: PROVISIONER,
    passwordFile: prepared.passwordFile,
    rootFingerprint: ca.rootFingerprint,
    acmeDirectory,
  };
  const configDir = join(root, 'config');
  const acmeConfigDir = join(root, 'config-acme');
  for (const [dir, files] of [
    [configDir, benchConfigFiles(configOptions)],
    [acmeConfigDir, benchConfigFiles({ ...configOptions, certIssuer: 'bench-acme' })],
  ] as const) {
    await mkdir(dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  }
  const analysis = await analyse(configDir);
  if (!analysis.inventory || analysis.diagnostics.errorCount) {
    const first = analysis.diagnostics.items.find((d) => d.severity === 'error');
    throw new Error(`the bench config is invalid: ${first?.message ?? 'no inventory'}`);
  }
  const gatewayCert = analysis.inventory.certificates.find((c) => c.name === GATEWAY_NAME)!;

  // The gateway: its first certificate from step-ca (JWK), then nginx.
  const wwwGid = await wwwDataGid();
  const gwStore = new FileCertificateStore(join(root, 'gateway-state', 'certs'));
  const gwIssuer = new StepCaJwkIssuer({
    url: ca.url,
    provisioner: PROVISIONER,
    password: (await readFile(prepared.passwordFile, 'utf8')).trim(),
    rootFingerprint: ca.rootFingerprint,
    timeoutMs: 15_000,
    name: 'bench',
  });
  const mem = createMemoryDrivers({});
  const gw = {
    store: gwStore,
    issuer: gwIssuer,
    ctx: {
      inventory: analysis.inventory,
      graph: analysis.graph!,
      drivers: {
        ...mem.drivers,
        issuer: (name: string) => (name === 'bench' ? gwIssuer : mem.drivers.issuer(name)),
      },
      certs: gwStore,
      signal: new AbortController().signal,
      waiting: () => {},
    } satisfies Context,
    tlsDir: join(root, 'gateway-tls'),
  };
  await mkdir(gw.tlsDir, { recursive: true, mode: 0o755 });
  const certPath = join(gw.tlsDir, 'fullchain.pem');
  const keyPath = join(gw.tlsDir, 'privkey.pem');
  const c0 = performance.now();
  const first = await issueInto(gw, gatewayCert);
  const coldIssueMs = performance.now() - c0;
  await installFile(keyPath, first.keyPem, 0o640, 0, wwwGid);
  await installFile(certPath, first.certPem, 0o644, 0, 0);
  const nginx = new Nginx({
    prefix: join(root, 'nginx'),
    address,
    webroot,
    serverName: GATEWAY_NAME,
    certPath,
    keyPath,
  });
  await mkdir(nginx.options.prefix, { recursive: true, mode: 0o700 });
  const master = await nginx.start(cleanup);
  await writeFile(join(webroot, '.well-known', 'acme-challenge', 'probe'), 'probe-ok', { mode: 0o644 });
  const probe = await httpGet(`http://${address}/.well-known/acme-challenge/probe`);
  if (probe.status !== 200 || probe.body !== 'probe-ok') {
    throw new Error(`nginx does not serve the webroot: HTTP ${probe.status} ${probe.body.slice(0, 100)}`);
  }
  await rm(join(webroot, '.well-known', 'acme-challenge', 'probe'));
  const served0 = await servedCertificateAt(address, 443, GATEWAY_NAME);
  if (served0.serial !== first.serial) throw new Error('nginx does not serve the gateway certificate');
  const setupMs = performance.now() - setup0;
  log(
    `bench certs: nginx master pid ${master.pid} on ${address}:80 (webroot) and :443 (${GATEWAY_NAME}); setup ${f0(setupMs)} ms`,
  );

  // ---- 1. issuance
  const batches: BatchResult[] = [];
  const phoenixRuns: Record<string, PhoenixRun[]> = {};
  const pools: Record<string, ToolRun[]> = {};

  const phoenix = async (
    label: string,
    mode: 'engine' | 'direct',
    config: string,
    extra: string[],
  ): Promise<PhoenixRun> => {
    const state = await mkdtemp(join(root, 'phoenix-state-'));
    const profile = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
    const args = [...profile, PHOENIX_CHILD, mode, config, state, '--certs', names.join(','), ...extra];
    const r = await run(process.execPath, args, { timeoutMs: 600_000 });
    if (r.code !== 0) {
      throw new Error(
        `${label}: certs-phoenix.js exited ${r.code ?? r.signal}: ${tail(r.stderr.trim() || r.stdout.trim() || '(no output)', 12)}`,
      );
    }
    const measurement = JSON.parse(r.stdout.trim().split('\n').pop()!) as PhoenixMeasurement;
    const store = new FileCertificateStore(join(state, 'certs'));
    const problems: string[] = [];
    let verified = 0;
    for (const name of names) {
      const stored = await store.load(name).catch(() => undefined);
      const problem = stored ? checkCertificate(stored.certPem, name) : 'not in the store';
      if (problem) problems.push(`${name}: ${problem}`);
      else verified++;
    }
    await rm(state, { recursive: true, force: true });
    log(`  Phoenix ${label}: ${f0(r.ms)} ms (${verified}/${names.length} verified)`);
    return {
      wallMs: r.ms,
      measurement,
      verified,
      problems: [...measurement.errors, ...problems].slice(0, 5),
    };
  };

  // The CA guest synced into a memory world once, so the measured syncs find it there (as on a real host).
  const worldDir = await mkdtemp(join(root, 'phoenix-world-'));
  const world = join(worldDir, 'world.json');
  const setupRun = await run(
    process.execPath,
    [PHOENIX_CHILD, 'setup', configDir, join(worldDir, 'state'), '--save-world', world],
    { timeoutMs: 120_000 },
  );
  if (setupRun.code !== 0) throw new Error(`certs-phoenix.js setup failed: ${tail(setupRun.stderr)}`);

  const legoEnv = { ...process.env, LEGO_CA_CERTIFICATES: rootFile };
  const certbotEnv = { ...process.env, REQUESTS_CA_BUNDLE: rootFile };
  const tools = {
    lego: {
      command: (dir: string, name: string) => ({
        cmd: LEGO,
        args: [
          ...['--server', acmeDirectory, '--email', EMAIL, '--accept-tos', '--path', dir],
          ...['--http', '--http.webroot', webroot, '--key-type', 'ec256', '--domains', name, 'run'],
        ],
        env: legoEnv,
      }),
      output: (dir: string, name: string) => join(dir, 'certificates', `${name}.crt`),
    },
    certbot: {
      command: (dir: string, name: string) => ({
        cmd: CERTBOT,
        args: [
          ...['certonly', '--non-interactive', '--agree-tos', '--no-eff-email', '-m', EMAIL],
          ...['--server', acmeDirectory],
          ...['--config-dir', join(dir, 'config'), '--work-dir', join(dir, 'work')],
          ...['--logs-dir', join(dir, 'logs')],
          ...['--key-type', 'ecdsa', '--elliptic-curve', 'secp256r1'],
          ...['--webroot', '-w', webroot, '-d', name],
        ],
        env: certbotEnv,
      }),
      output: (dir: string, name: string) => join(dir, 'config', 'live', name, 'fullchain.pem'),
    },
  };
  /** One batch of a tool: N processes by `workers` loops, each loop with its own account and directories. */
  const toolBatch = async (tool: 'lego' | 'certbot', workers: number): Promise<ToolRun> => {
    const base = await mkdtemp(join(root, `${tool}-`));
    const dirOf = (w: number) => join(base, `w${w}`);
    try {
      const result = await runPool(
        names,
        workers,
        (w, name) => tools[tool].command(dirOf(w), name),
        (w, name: string, _r: RunResult) => checkFile(tools[tool].output(dirOf(w), name), name),
        stopped,
      );
      const issued = result.jobs.filter((j) => j.ok).length;
      const firstProblem = result.jobs.find((j) => !j.ok);
      log(
        `  ${tool} ${workers === 1 ? 'sequential' : `parallel ${workers}`}: ${seconds(result.totalMs)} s, ` +
          `${issued}/${names.length} verified` +
          (firstProblem ? ` — first failure ${firstProblem.name}: ${firstProblem.detail}` : ''),
      );
      return {
        totalMs: result.totalMs,
        issued,
        processMs: result.jobs.length ? stats(result.jobs.map((j) => j.ms)) : null,
        ...(firstProblem ? { firstProblem: `${firstProblem.name}: ${firstProblem.detail}` } : {}),
      };
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  };

  // Rounds, interleaved so that a noisy moment hits every contender: Phoenix's engine and every tool mode in
  // the first round; then Phoenix and the tool modes that took under SHORT_BATCH_MS again, `runs` rounds in
  // all. Each contender's figure is the median of its rounds (certbot's minutes-long batches run once).
  const modes = opts.tools.flatMap((tool) =>
    [...new Set([...(opts.sequential ? [1] : []), opts.parallel])].map((workers) => ({
      tool,
      workers,
      key: `${tool} ${workers === 1 ? 'sequential' : `parallel ${workers}`}`,
    })),
  );
  const engineRuns: PhoenixRun[] = [];
  for (let round = 0; round < opts.runs && !stopped(); round++) {
    log(`bench certs: round ${round + 1} of ${opts.runs}: ${names.length} certificates per contender …`);
    engineRuns.push(await phoenix('engine 16/4', 'engine', configDir, ['--world', world]));
    for (const m of modes) {
      if (stopped()) break;
      const earlier = pools[m.key] ?? [];
      if (round > 0 && !(earlier[0] && earlier[0].totalMs < SHORT_BATCH_MS)) continue;
      pools[m.key] = [...earlier, await toolBatch(m.tool, m.workers)];
    }
  }
  batches.push(phoenixBatch(phoenixRuns, 'engine', 'engine 16/4 (JWK)', engineRuns, true, names.length));
  for (const m of modes) {
    const runs = pools[m.key];
    if (!runs?.length) continue;
    const mid = medianBy(runs, (r) => r.totalMs);
    const ms = (r: ToolRun) => f0(r.totalMs);
    batches.push({
      tool: m.tool,
      mode: m.key.slice(m.tool.length + 1),
      certificates: names.length,
      issued: Math.min(...runs.map((r) => r.issued)),
      totalMs: mid.totalMs,
      counts: true,
      note:
        `${runs.length > 1 ? `median of ${runs.length} batches (${runs.map(ms).join('/')} ms)` : 'one batch'}; ` +
        `one process median ${mid.processMs ? f0(mid.processMs.median) : '–'} ms, max ${mid.processMs ? f0(mid.processMs.max) : '–'} ms` +
        (runs.find((r) => r.firstProblem) ? `; ${runs.find((r) => r.firstProblem)!.firstProblem}` : ''),
    });
  }

  // Extras, once each: what concurrency and the engine add, and Phoenix's ACME issuer.
  let acmeNote = '';
  if (!stopped()) {
    log('bench certs: Phoenix extras …');
    const serialRun = await phoenix('engine 1/1', 'engine', configDir, [
      ...['--world', world, '--concurrency', '1', '--per-node-limit', '1'],
    ]);
    batches.push(phoenixBatch(phoenixRuns, 'engine-1', 'engine 1/1 (JWK)', [serialRun], false, names.length));
    const directRun = await phoenix('direct JWK at 16', 'direct', configDir, []);
    batches.push(
      phoenixBatch(phoenixRuns, 'direct-jwk', 'direct 16 (JWK)', [directRun], false, names.length),
    );
    try {
      const acmeRun = await phoenix('direct ACME at 16', 'direct', acmeConfigDir, [
        ...['--webroot', webroot, '--root', rootFile],
      ]);
      if (acmeRun.verified === 0) throw new Error(acmeRun.problems[0] ?? 'no certificate');
      batches.push(
        phoenixBatch(phoenixRuns, 'direct-acme', 'direct 16 (ACME)', [acmeRun], false, names.length),
      );
    } catch (err) {
      acmeNote = `Phoenix ACME not measured: ${(err as Error).message.replace(/\s*\n\s*/g, ' / ')}`;
      log(`  ${acmeNote}`);
    }
  }

  // ---- 2. renewal decision → new serial served
  const renewals: RenewalRun[] = [];
  let decision = '';
  if (!stopped()) {
    log(`bench certs: gateway renewal → served, 1 warm-up + ${opts.reloadRuns} runs …`);
    for (let i = 0; i <= opts.reloadRuns && !stopped(); i++) {
      const r = await renewOnce(gw, gatewayCert, nginx, address, certPath, keyPath, wwwGid);
      decision = r.reason;
      if (i > 0) renewals.push(r.run);
    }
  }

  // An interrupted run reports nothing (its figures are partial) and leaves the last results file alone.
  if (stopped()) return 130;

  // ---- report
  const phoenixTime = toolTime(batches, 'phoenix');
  // Phoenix first (its counted row, then the extras), then the other tools in the order they ran.
  const ordered = [
    ...batches.filter((b) => b.tool === 'phoenix' && b.counts),
    ...batches.filter((b) => b.tool === 'phoenix' && !b.counts),
    ...batches.filter((b) => b.tool !== 'phoenix'),
  ];
  const rows = reportRows(ordered, phoenixTime?.totalMs ?? NaN);
  const goal = issuanceGoal(batches);
  const acmeBatch = batches.find((b) => b.mode === 'direct 16 (ACME)' && b.issued === b.certificates);
  const acmeGoal = acmeBatch
    ? issuanceGoal([...batches.filter((b) => b.tool !== 'phoenix'), { ...acmeBatch, counts: true }])
    : undefined;
  const renewalTotals = renewals.length ? stats(renewals.map((r) => r.totalMs)) : undefined;
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    options: opts,
    setup: { address, caUrl: ca.url, acmeDirectory, dns: dns.server, setupMs, coldIssueMs },
    issuance: {
      rows,
      goal,
      acmeGoal: acmeGoal ?? null,
      acmeNote: acmeNote || null,
      phoenixRuns,
      pools,
    },
    renewal: {
      decision,
      runs: renewals,
      totalMs: renewalTotals ?? null,
      phases: Object.fromEntries(
        RENEWAL_PHASES.map((p) => [p, renewals.length ? stats(renewals.map((r) => r.phases[p])) : null]),
      ),
      polls: renewals.length ? stats(renewals.map((r) => r.polls)) : null,
    },
  };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(report, null, 2) + '\n');

  if (opts.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    const out: string[] = [];
    out.push(
      `\ncertificate issuance: ${names.length} certificates (ECDSA P-256, one name each) from one step-ca on ${address} ` +
        `(${cpus().length} CPUs, node ${process.version})\n`,
    );
    out.push(issuanceTable(rows));
    out.push('');
    for (const r of rows) if (r.note) out.push(`  ${r.tool} ${r.mode}: ${r.note}`);
    if (acmeNote) out.push(`  ${acmeNote}`);
    out.push(
      `\n(ratio = the row's total / Phoenix's ${phoenixTime?.mode ?? '?'} total; "extra" rows are shown for insight, ` +
        `each tool's time is its faster complete counted mode)`,
    );
    if (renewals.length && renewalTotals) {
      out.push(
        `\ngateway renewal → new serial served (${GATEWAY_NAME} on ${address}:443, ${renewals.length} runs after a warm-up; ` +
          `decision: "${decision}"; first issue of the process, with the provisioner key decrypt: ${f0(coldIssueMs)} ms)\n`,
      );
      out.push(renewalTable(renewals));
      const polls = stats(renewals.map((r) => r.polls));
      out.push(
        `\nTLS handshakes until the new serial was served: median ${polls.median}, max ${polls.max} (every ${POLL_INTERVAL_MS} ms)`,
      );
    }
    out.push('\ngoals:');
    out.push(
      `  ${goal.ok ? 'PASS' : 'FAIL'}  issuance: Phoenix at least as fast as the fastest other tool: ${goal.text}`,
    );
    if (acmeGoal) {
      out.push(
        `  ${acmeGoal.ok ? 'PASS' : 'FAIL'}  (same protocol) Phoenix's ACME issuer vs the fastest other tool: ${acmeGoal.text}`,
      );
    }
    if (renewalTotals) {
      out.push(
        `  info  gateway renewal decision → new serial served: median ${renewalTotals.median.toFixed(1)} ms, p90 ${renewalTotals.p90.toFixed(1)} ms`,
      );
    }
    out.push(`\nresults: ${RESULTS}`);
    process.stdout.write(out.join('\n') + '\n');
  }
  return batches.some((b) => b.tool === 'phoenix' && b.counts && b.issued === b.certificates) ? 0 : 1;
}

interface Gateway {
  readonly store: FileCertificateStore;
  readonly issuer: StepCaJwkIssuer;
  /** What a cert node's read sees: the bench config, the issuer above, the store above. */
  readonly ctx: Context;
}

/** The cert handler's apply (src/certs/issue.ts) for the gateway certificate: key, CSR, issue, store. */
async function issueInto(
  gw: Gateway,
  cert: Certificate,
): Promise<{ keyPem: string; certPem: string; serial: string }> {
  const stored = await issueAndStore(gw.issuer, gw.store, cert);
  return {
    keyPem: stored.keyPem,
    certPem: stored.certPem,
    serial: (await parseCertificate(stored.certPem)).serial,
  };
}

async function renewOnce(
  gw: Gateway,
  cert: Certificate,
  nginx: Nginx,
  address: string,
  certPath: string,
  keyPath: string,
  wwwGid: number,
): Promise<{ run: RenewalRun; reason: string }> {
  const marks: Array<[RenewalPhase, number]> = [];
  const t0 = performance.now();
  let last = t0;
  const mark = (phase: RenewalPhase) => {
    const now = performance.now();
    marks.push([phase, now - last]);
    last = now;
  };
  // decide: what `phoenix sync` observes and decides for a cert node.
  const seen = await observeCertificate(gw.ctx, cert.name);
  const reason = renewalReason(cert, seen);
  if (!reason) throw new Error(`the gateway certificate is not due (valid until ${seen.facts?.notAfter})`);
  const oldSerial = seen.facts?.serial ?? '';
  mark('decide');
  const issued = await issueInto(gw, cert);
  mark('issue');
  await installFile(keyPath, issued.keyPem, 0o640, 0, wwwGid);
  await installFile(certPath, issued.certPem, 0o644, 0, 0);
  mark('install');
  await nginx.test();
  mark('test');
  await nginx.reload();
  mark('reload');
  let polls = 0;
  const deadline = performance.now() + SERVE_TIMEOUT_MS;
  for (;;) {
    polls++;
    const served = await servedCertificateAt(address, 443, cert.dnsNames[0] ?? cert.commonName).catch(
      () => undefined,
    );
    if (served?.serial === issued.serial) break;
    if (performance.now() > deadline) {
      throw new Error(
        `nginx still serves ${served?.serial ?? 'nothing'} ${SERVE_TIMEOUT_MS} ms after the reload, not ${issued.serial}`,
      );
    }
    await sleep(POLL_INTERVAL_MS);
  }
  mark('served');
  const phases = Object.fromEntries(marks) as Record<RenewalPhase, number>;
  return {
    reason,
    run: {
      phases,
      totalMs: performance.now() - t0,
      polls,
      oldSerial,
      newSerial: issued.serial,
    },
  };
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  try {
    process.exitCode = await main();
  } catch (err) {
    process.stderr.write(`bench certs: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
