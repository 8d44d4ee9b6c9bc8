import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  carryOver,
  parseMetrics,
  renderMetrics,
  unixSeconds,
  type CertificateMetrics,
  type CertsMetrics,
} from '../../certs/metrics.js';
import type { EngineEvent, NodeOutcome } from '../../engine/events.js';
import { summarize } from '../../engine/plan.js';
import type { Session } from '../../engine/session.js';
import { dependentClosure, executionOrder, requiredClosure, subgraph } from '../../graph/order.js';
import type { ResourceGraph } from '../../graph/types.js';
import type { Action } from '../../resources/types.js';
import { EXIT } from '../exit-codes.js';
import { formatPlan } from '../plan-view.js';
import { styleFor } from '../style.js';
import {
  certificateFacts,
  inspectCertificate,
  resolveCertNames,
  writeFileAtomically,
} from './certs-common.js';
import { loadInventory } from './certs-list.js';
import { engineSettings, type EngineCliOptions, type EngineSettings } from './engine-options.js';
import { makePlan, runWalk, withSession } from './run-engine.js';

export interface CertsRenewOptions extends EngineCliOptions {
  force?: boolean;
  metricsFile?: string;
}

/**
 * What renewing some certificates runs: their `cert/<name>` nodes, everything downstream of them (their
 * files, the reloads and restarts those trigger, the gateway config that names the files), and whatever
 * all of that requires, in execution order. The same nodes `sync` would run for them.
 */
export function renewOrder(graph: ResourceGraph, names: readonly string[]): string[] {
  const downstream = dependentClosure(
    graph,
    names.map((n) => `cert/${n}`),
  );
  return executionOrder(subgraph(graph, requiredClosure(graph, [...downstream])));
}

/**
 * The nodes that deliver a certificate: the certificate itself, its installed files, and the handlers
 * (reload, restart) those files trigger. Its renewal succeeded when all of them did.
 */
export function deliveryNodes(graph: ResourceGraph, name: string): string[] {
  const files = [...graph.nodes.values()]
    .filter((n) => n.spec.kind === 'file' && n.spec.certificate === name)
    .map((n) => n.id);
  const handlers = [...graph.nodes.values()]
    .filter((n) => (n.kind === 'reload' || n.kind === 'restart') && n.triggers.some((t) => files.includes(t)))
    .map((n) => n.id);
  return [`cert/${name}`, ...files, ...handlers];
}

interface NodeEnd {
  readonly outcome: NodeOutcome;
  readonly action: Action;
  readonly at: string;
}

/** `phoenix certs renew`: the sync of the selected certificates' part of the graph, then the metrics. */
export async function certsRenewCommand(given: string[], o: CertsRenewOptions): Promise<number> {
  const settings = engineSettings(o);
  const metricsFile = o.metricsFile === undefined ? undefined : resolve(o.metricsFile);
  // Names are checked before the session opens: an unknown one changes nothing and records no run. The
  // forced set must be known then too (the certificate resources read it while they observe).
  let forced: ReadonlySet<string> | undefined;
  if (given.length > 0 || o.force) {
    const inventory = await loadInventory(settings.configDir);
    if (!inventory) return EXIT.invalid;
    const names = resolveCertNames(inventory, given);
    if (o.force) forced = new Set(names);
  }
  const what = [...(o.force ? ['--force'] : []), ...given].join(' ');
  return withSession(
    settings,
    {
      command: `phoenix certs renew${what ? ` ${what}` : ''}`,
      args: given,
      mutating: true,
      forceRenew: forced,
    },
    async (s, emit) => {
      const names = resolveCertNames(s.inventory, given);
      const order = renewOrder(s.graph, names);
      if (settings.dryRun) return dryRun(s, order, settings);
      const ends = new Map<string, NodeEnd>();
      const recording = (e: EngineEvent) => {
        if (e.type === 'node-end') ends.set(e.id, { outcome: e.outcome, action: e.action, at: e.at });
        emit(e);
      };
      const code = await runWalk(s, order, settings, recording);
      if (metricsFile === undefined) return code;
      try {
        const metrics = await collectMetrics(s, names, ends);
        const previous = existsSync(metricsFile)
          ? parseMetrics(readFileSync(metricsFile, 'utf8'))
          : undefined;
        writeFileAtomically(metricsFile, renderMetrics(carryOver(previous, metrics)), 0o644);
        if (!settings.json) process.stdout.write(`Metrics written to ${metricsFile}\n`);
        return code;
      } catch (e) {
        process.stderr.write(
          `phoenix certs renew: cannot write the metrics file ${metricsFile}: ${e instanceof Error ? e.message : String(e)}\n`,
        );
        return code === EXIT.ok ? EXIT.failed : code;
      }
    },
  );
}

async function dryRun(s: Session, order: string[], settings: EngineSettings): Promise<number> {
  const plan = await makePlan(s, order, settings);
  if (settings.json) process.stdout.write(JSON.stringify({ ...plan, summary: summarize(plan) }) + '\n');
  else
    process.stdout.write(
      `Dry run: nothing was changed. This is what \`${s.command}\` would do:\n` +
        formatPlan(plan, styleFor(process.stdout), settings.verbose),
    );
  return summarize(plan).unknown ? EXIT.failed : EXIT.ok;
}

/** This run's facts: expiry and due date of every certificate from the store, outcome of the renewed ones. */
async function collectMetrics(
  s: Session,
  renewed: readonly string[],
  ends: ReadonlyMap<string, NodeEnd>,
): Promise<CertsMetrics> {
  // The session's own store (read-only view), the one the run just wrote to.
  const store = s.readCtx.certs;
  const at = new Date();
  const certificates: CertificateMetrics[] = [];
  for (const cert of s.inventory.certificates) {
    const facts = certificateFacts(await inspectCertificate(store, cert, at));
    const entry: {
      -readonly [K in keyof CertificateMetrics]: CertificateMetrics[K];
    } = { name: cert.name };
    if (facts.notAfter) entry.notAfterSeconds = unixSeconds(facts.notAfter.getTime());
    if (facts.renewalDue) entry.renewalDueSeconds = unixSeconds(facts.renewalDue.getTime());
    if (renewed.includes(cert.name)) {
      const delivery = deliveryNodes(s.graph, cert.name).flatMap((id) => {
        const end = ends.get(id);
        return end ? [end] : [];
      });
      if (delivery.length > 0) {
        const success = delivery.every((d) => d.outcome === 'ok' || d.outcome === 'unchanged');
        entry.lastRenewalSuccess = success ? 1 : 0;
        const issued = ends.get(`cert/${cert.name}`);
        if (
          success &&
          issued?.outcome === 'ok' &&
          (issued.action === 'create' || issued.action === 'replace')
        ) {
          const last = Math.max(...delivery.map((d) => Date.parse(d.at)));
          entry.lastRenewalTimestampSeconds = unixSeconds(last);
        }
      }
    }
    certificates.push(entry);
  }
  return { certificates, lastRunTimestampSeconds: unixSeconds(at.getTime()) };
}
