import { performance } from 'node:perf_hooks';
import { analyse } from '../src/analyse.js';
import { executionOrder } from '../src/graph/order.js';

/**
 * One measurement in a fresh process: `node dist/bench/measure.js <config-dir>` prints one JSON line with
 * the wall time of analyse() + executionOrder() and the process's peak RSS. Modules are loaded before
 * the clock starts (analyse imports yaml lazily, so that part is inside the measured time).
 */

export interface Measurement {
  readonly analyseMs: number;
  readonly orderMs: number;
  readonly totalMs: number;
  readonly maxRssMb: number;
  readonly guests: number;
  readonly certificates: number;
  readonly stacks: number;
  readonly resources: number;
  readonly ordered: number;
  readonly errors: number;
  readonly warnings: number;
  /** The first few error lines, to explain a failed validation. */
  readonly firstErrors: string[];
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node dist/bench/measure.js <config-dir>\n');
    process.exit(2);
  }
  const t0 = performance.now();
  const analysis = await analyse(dir);
  const t1 = performance.now();
  const order = analysis.graph ? executionOrder(analysis.graph) : [];
  const t2 = performance.now();
  const d = analysis.diagnostics;
  const result: Measurement = {
    analyseMs: t1 - t0,
    orderMs: t2 - t1,
    totalMs: t2 - t0,
    // maxRSS is in kilobytes.
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    guests: analysis.inventory?.guests.size ?? 0,
    certificates: analysis.inventory?.certificates.length ?? 0,
    stacks: analysis.inventory?.stacks.size ?? 0,
    resources: analysis.graph?.nodes.size ?? 0,
    ordered: order.length,
    errors: d.errorCount,
    warnings: d.warningCount,
    firstErrors: d.items
      .filter((i) => i.severity === 'error')
      .slice(0, 5)
      .map((i) => `${i.file}:${i.line ?? 0}:${i.column ?? 0} ${i.code} ${i.message}`),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
