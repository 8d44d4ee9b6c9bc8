import type { Plan, PlanSummary } from '../engine/plan.js';
import { summarize } from '../engine/plan.js';
import type { Style } from './style.js';

const SYMBOL: Record<string, string> = {
  create: '+',
  update: '~',
  replace: '±',
  delete: '-',
  noop: '=',
  unknown: '?',
};

/** The plan for people: one line per action with its reason, then the counts. Unchanged nodes only with --verbose. */
export function formatPlan(plan: Plan, style: Style, verbose = false): string {
  const lines: string[] = [];
  const width = Math.min(60, Math.max(0, ...plan.nodes.map((n) => n.id.length)));
  for (const n of plan.nodes) {
    if (n.action === 'noop' && !verbose) continue;
    const tone =
      n.action === 'create'
        ? style.green
        : n.action === 'noop'
          ? style.dim
          : n.action === 'unknown'
            ? style.red
            : style.yellow;
    const action = n.action === 'noop' ? 'keep' : n.action;
    lines.push(`  ${tone(`${SYMBOL[n.action]} ${action.padEnd(7)}`)} ${n.id.padEnd(width)}  ${n.reason}`);
  }
  lines.push(summaryText(summarize(plan)));
  return lines.join('\n') + '\n';
}

export function summaryText(s: PlanSummary): string {
  const parts = [
    `${s.create} to create`,
    `${s.update} to update`,
    `${s.replace} to replace`,
    `${s.delete} to delete`,
    `${s.unchanged} unchanged`,
  ];
  if (s.unknown) parts.push(`${s.unknown} could not be observed`);
  return `Plan: ${parts.join(', ')}.`;
}
