import { forEachFlag } from './args.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measure.js';
import { writeSyntheticConfig, type SyntheticSummary } from './synthetic.js';

/**
 * `npm run bench` → node dist/bench/run.js [--sizes 100,1000,5000] [--runs 3] [--seed 1] [--keep]
 * `npm run bench -- --engine [engine options]` → the engine benchmark instead (bench/engine.ts).
 * `npm run bench -- --certs [certs options]` → the certificate issuance benchmark instead (bench/certs.ts:
 * Phoenix vs lego vs certbot against a real step-ca, and the gateway's renewal → served time).
 *
 * For each size: generate a synthetic config into a temp dir, then, each in a fresh process, measure
 * analyse() + executionOrder() (wall time, peak RSS) and the whole `phoenix validate` process. Prints a
 * table and the goals, writes bench/results/latest.json. Everything is local files: no network at all.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench → the checkout. */
const ROOT = resolve(HERE, '..', '..');
const MEASURE = join(HERE, 'measure.js');
const PHOENIX = join(ROOT, 'bin', 'phoenix.js');
const HOMELAB = join(ROOT, 'examples', 'homelab');
const RESULTS = join(ROOT, 'bench', 'results', 'latest.json');
const HOMELAB_RUNS = 10;

const GOALS = {
  size: 5000,
  maxMs: 2000,
  maxRssMb: 300,
  /** ms per guest at the goal size over ms per guest at the reference size. */
  linearRef: 1000,
  maxGrowth: 1.5,
  homelabValidateMs: 250,
};

interface Options {
  sizes: number[];
  runs: number;
  seed: number;
  keep: boolean;
}

interface Stat {
  median: number;
  max: number;
  runs: number[];
}

interface SizeResult {
  size: number;
  generated: SyntheticSummary;
  generateMs: number;
  guests: number;
  certificates: number;
  stacks: number;
  resources: number;
  ordered: number;
  errors: number;
  warnings: number;
  firstErrors: string[];
  analyseMs: Stat;
  orderMs: Stat;
  totalMs: Stat;
  maxRssMb: Stat;
  validateProcessMs: Stat;
  validateExitCodes: number[];
  msPerGuest: number;
}

interface Goal {
  name: string;
  target: string;
  actual: string;
  ok: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { sizes: [100, 1000, 5000], runs: 3, seed: 1, keep: false };
  forEachFlag(argv, fail, ({ name: flag, arg, value, positive }) => {
    switch (flag) {
      case '--sizes':
        opts.sizes = value()
          .split(',')
          .filter(Boolean)
          .map((s) => positive(s.trim()));
        break;
      case '--runs':
        opts.runs = positive(value());
        break;
      case '--seed':
        opts.seed = positive(value());
        break;
      case '--keep':
        opts.keep = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(
          'usage: node dist/bench/run.js [--sizes 100,1000,5000] [--runs 3] [--seed 1] [--keep]\n' +
            '       node dist/bench/run.js --engine [options of dist/bench/engine.js; --help for them]\n' +
            '       node dist/bench/run.js --certs [options of dist/bench/certs.js; --help for them]\n',
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
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function stat(values: number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, max: sorted[sorted.length - 1]!, runs: values };
}

function measureOnce(dir: string): Measurement {
  const r = spawnSync(process.execPath, [MEASURE, dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    throw new Error(
      `measure.js failed (exit ${r.status ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measurement;
}

/** Wall time of a whole `phoenix validate` process, from spawn to exit. */
function validateOnce(dir: string): { ms: number; code: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [PHOENIX, 'validate', '--config-dir', dir], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  return { ms, code: r.status ?? -1 };
}

const tempDirs = new Set<string>();
function cleanup(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function benchSize(size: number, opts: Options): SizeResult {
  const dir = mkdtempSync(join(tmpdir(), `phoenix-bench-${size}-`));
  if (!opts.keep) tempDirs.add(dir);
  try {
    const g0 = performance.now();
    const generated = writeSyntheticConfig(dir, { guests: size, seed: opts.seed });
    const generateMs = performance.now() - g0;
    process.stderr.write(
      `  ${size}: generated ${generated.guests} guests, ${generated.certificates} certificates, ${generated.stacks} stacks ` +
        `(${(generated.bytes / 1024 / 1024).toFixed(1)} MB in ${generated.files} files, ${generateMs.toFixed(0)} ms)` +
        (opts.keep ? ` in ${dir}` : '') +
        '\n',
    );
    const ms: Measurement[] = [];
    for (let i = 0; i < opts.runs; i++) ms.push(measureOnce(dir));
    const validate: Array<{ ms: number; code: number }> = [];
    for (let i = 0; i < opts.runs; i++) validate.push(validateOnce(dir));
    const first = ms[0]!;
    const totalMs = stat(ms.map((m) => m.totalMs));
    return {
      size,
      generated,
      generateMs,
      guests: first.guests,
      certificates: first.certificates,
      stacks: first.stacks,
      resources: first.resources,
      ordered: first.ordered,
      errors: first.errors,
      warnings: first.warnings,
      firstErrors: first.firstErrors,
      analyseMs: stat(ms.map((m) => m.analyseMs)),
      orderMs: stat(ms.map((m) => m.orderMs)),
      totalMs,
      maxRssMb: stat(ms.map((m) => m.maxRssMb)),
      validateProcessMs: stat(validate.map((v) => v.ms)),
      validateExitCodes: validate.map((v) => v.code),
      msPerGuest: totalMs.median / Math.max(1, first.guests),
    };
  } finally {
    if (!opts.keep) {
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
  }
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join(
    '\n',
  );
}

function goals(results: SizeResult[], homelab: Stat | undefined): Goal[] {
  const out: Goal[] = [];
  const big = results.find((r) => r.size === GOALS.size);
  const ref = results.find((r) => r.size === GOALS.linearRef);
  if (big) {
    out.push({
      name: `${GOALS.size} guests: analyse + order`,
      target: `< ${GOALS.maxMs} ms`,
      actual: `${big.totalMs.median.toFixed(0)} ms median, ${big.totalMs.max.toFixed(0)} ms max`,
      ok: big.totalMs.max < GOALS.maxMs,
    });
    out.push({
      name: `${GOALS.size} guests: peak RSS`,
      target: `< ${GOALS.maxRssMb} MB`,
      actual: `${big.maxRssMb.max.toFixed(0)} MB max`,
      ok: big.maxRssMb.max < GOALS.maxRssMb,
    });
  }
  if (big && ref) {
    const growth = big.msPerGuest / ref.msPerGuest;
    out.push({
      name: `growth ${GOALS.linearRef} → ${GOALS.size} (ms/guest ratio)`,
      target: `≤ ${GOALS.maxGrowth}×`,
      actual: `${growth.toFixed(2)}× (${ref.msPerGuest.toFixed(3)} → ${big.msPerGuest.toFixed(3)} ms/guest)`,
      ok: growth <= GOALS.maxGrowth,
    });
  }
  if (homelab) {
    out.push({
      name: 'validate examples/homelab (whole process)',
      target: `≈ ${GOALS.homelabValidateMs} ms`,
      actual: `${homelab.median.toFixed(0)} ms median of ${homelab.runs.length}`,
      ok: homelab.median <= GOALS.homelabValidateMs,
    });
  }
  for (const r of results) {
    out.push({
      name: `${r.size} guests: config valid, order covers the graph`,
      target: '0 errors, exit 0',
      actual: `${r.errors} errors, ${r.warnings} warnings, ${r.ordered}/${r.resources} ordered, exit ${[...new Set(r.validateExitCodes)].join('/')}`,
      ok: r.errors === 0 && r.ordered === r.resources && r.validateExitCodes.every((c) => c === 0),
    });
  }
  return out;
}

/** `--engine`: runs dist/bench/engine.js with the other arguments, in its own process. */
function engineBench(argv: string[]): number {
  const script = join(HERE, 'engine.js');
  if (!existsSync(script)) fail(`${script} is missing; run npm run build first`);
  const r = spawnSync(process.execPath, [script, ...argv.filter((a) => a !== '--engine')], {
    stdio: 'inherit',
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** `--certs`: runs dist/bench/certs.js with the other arguments, in its own process. */
function certsBench(argv: string[]): number {
  const script = join(HERE, 'certs.js');
  if (!existsSync(script)) fail(`${script} is missing; run npm run build first`);
  const r = spawnSync(process.execPath, [script, ...argv.filter((a) => a !== '--certs')], {
    stdio: 'inherit',
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function main(): number {
  if (process.argv.includes('--engine')) return engineBench(process.argv.slice(2));
  if (process.argv.includes('--certs')) return certsBench(process.argv.slice(2));
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(MEASURE)) fail(`${MEASURE} is missing; run npm run build first`);
  process.stderr.write(`bench: sizes ${opts.sizes.join(', ')}; ${opts.runs} runs each; seed ${opts.seed}\n`);

  const results: SizeResult[] = [];
  for (const size of opts.sizes) results.push(benchSize(size, opts));

  let homelab: Stat | undefined;
  let homelabCodes: number[] = [];
  if (existsSync(HOMELAB)) {
    const runs = Array.from({ length: HOMELAB_RUNS }, () => validateOnce(HOMELAB));
    homelab = stat(runs.map((r) => r.ms));
    homelabCodes = runs.map((r) => r.code);
  }

  const f0 = (n: number) => n.toFixed(0);
  const rows = results.map((r) => [
    String(r.size),
    `${r.guests}/${r.certificates}/${r.stacks}`,
    String(r.resources),
    `${f0(r.totalMs.median)} / ${f0(r.totalMs.max)}`,
    `${f0(r.orderMs.median)}`,
    `${f0(r.maxRssMb.median)} / ${f0(r.maxRssMb.max)}`,
    f0(r.validateProcessMs.median),
    r.msPerGuest.toFixed(3),
  ]);
  process.stdout.write(
    '\n' +
      table(
        [
          'size',
          'guests/certs/stacks',
          'resources',
          'analyse+order ms (med / max)',
          'of which order ms',
          'peak RSS MB (med / max)',
          'validate process ms (med)',
          'ms/guest',
        ],
        rows,
      ) +
      '\n',
  );
  if (homelab) {
    process.stdout.write(
      `\nexamples/homelab: phoenix validate whole process ${f0(homelab.median)} ms median, ${f0(homelab.max)} ms max ` +
        `(${homelab.runs.length} runs, exit ${[...new Set(homelabCodes)].join('/')})\n`,
    );
  }

  const goalList = goals(results, homelab);
  process.stdout.write('\ngoals:\n');
  for (const g of goalList)
    process.stdout.write(`  ${g.ok ? 'PASS' : 'FAIL'}  ${g.name}: ${g.actual} (goal ${g.target})\n`);
  for (const r of results) {
    if (r.firstErrors.length)
      process.stdout.write(`\n${r.size} guests, first errors:\n  ${r.firstErrors.join('\n  ')}\n`);
  }

  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        options: opts,
        goals: goalList,
        sizes: results,
        homelab: homelab ? { validateProcessMs: homelab, exitCodes: homelabCodes } : null,
      },
      null,
      2,
    ) + '\n',
  );
  process.stdout.write(`\nresults: ${RESULTS}\n`);
  // A failed goal is a finding, not a crash; only an invalid synthetic config makes the bench itself fail.
  return results.every((r) => r.errors === 0 && r.ordered === r.resources) ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}
try {
  process.exitCode = main();
} finally {
  cleanup();
}
