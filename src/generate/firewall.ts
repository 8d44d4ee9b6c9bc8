import type { FirewallRuleConfig } from '../config/schema/common.js';
import type { GuestId, Inventory } from '../model/inventory.js';
import {
  cleanComment,
  formatFirewallFile,
  formatRule,
  type FirewallFile,
  type PveRule,
} from './firewall-format.js';
import { generatedHeader } from './topology.js';

export { parseFirewallFile, type FirewallFile, type PveRule } from './firewall-format.js';

/**
 * Proxmox firewall files from one rule model. Scopes never mix: cluster.fw holds the declared global
 * rules only (Proxmox applies them to the hosts); `<vmid>.fw` holds the guest's own rules followed by the
 * rules of the stacks deployed to it. Order is kept as declared, because the first matching rule wins.
 * A rule is written once: a repeat within a file (equal but for its comment) and a guest rule identical
 * to a cluster rule (comment included: the copy the original tool made) are left out, with a note.
 */

interface Group {
  readonly title: string;
  readonly rules: readonly FirewallRuleConfig[];
}

interface Planned {
  readonly file: FirewallFile;
  readonly lines: string[];
}

export function toPveRule(r: FirewallRuleConfig): PveRule {
  const rule: { -readonly [K in keyof PveRule]: PveRule[K] } = {
    direction: r.type === 'in' ? 'IN' : 'OUT',
    action: r.action,
    enabled: r.enabled !== false,
  };
  if (r.source !== undefined) rule.source = r.source;
  if (r.dest !== undefined) rule.dest = r.dest;
  if (r.proto !== undefined) rule.proto = r.proto;
  if (r.port !== undefined) rule.dport = r.port;
  if (r.sport !== undefined) rule.sport = r.sport;
  rule.log = 'nolog';
  const comment = cleanComment(r.comment);
  if (comment !== undefined) rule.comment = comment;
  return rule;
}

/** What Proxmox acts on; address and port lists are order-insensitive; the comment does not count. */
export function ruleMatchKey(r: PveRule): string {
  const list = (v: string | undefined) => (v === undefined ? '' : v.split(',').sort().join(','));
  return JSON.stringify([
    r.direction,
    r.action,
    r.enabled,
    list(r.source),
    list(r.dest),
    r.proto ?? '',
    list(r.dport),
    list(r.sport),
    r.log ?? '',
  ]);
}

const fullKey = (r: PveRule) => JSON.stringify([ruleMatchKey(r), r.comment ?? '']);

function plan(
  options: Record<string, string>,
  groups: readonly Group[],
  clusterRules: readonly PveRule[],
): Planned {
  const inCluster = new Set(clusterRules.map(fullKey));
  const seen = new Map<string, string>();
  const rules: PveRule[] = [];
  const lines: string[] = [];
  for (const group of groups) {
    if (group.rules.length === 0) continue;
    if (lines.length > 0) lines.push('');
    lines.push(`# ${group.title}`);
    for (const rule of group.rules.map(toPveRule)) {
      const earlier = seen.get(ruleMatchKey(rule));
      if (earlier !== undefined) {
        lines.push(`# omitted, repeats a rule of ${earlier}: ${formatRule(rule)}`);
      } else if (inCluster.has(fullKey(rule))) {
        lines.push(`# omitted, identical to a cluster rule: ${formatRule(rule)}`);
      } else {
        seen.set(ruleMatchKey(rule), group.title);
        rules.push(rule);
        lines.push(formatRule(rule));
      }
    }
  }
  return { file: { options, rules }, lines };
}

function clusterPlan(inv: Inventory): Planned {
  const fw = inv.clusterFirewall;
  const options = { enable: fw.enabled ? '1' : '0', policy_in: fw.policyIn, policy_out: fw.policyOut };
  return plan(options, [{ title: 'global rules', rules: fw.rules }], []);
}

function guestPlan(inv: Inventory, guestId: GuestId): Planned | undefined {
  const g = inv.guests.get(guestId);
  // No file for what Phoenix does not manage: unknown ids, templates, guests whose firewall is off.
  if (!g || g.isTemplate || !g.firewall.enabled) return undefined;
  const groups: Group[] = [
    {
      title: `own rules of ${g.kind === 'vm' ? 'VM' : 'container'} ${g.id} (${g.name})`,
      rules: g.firewall.rules,
    },
  ];
  if (g.kind === 'vm') {
    for (const dep of g.stacks) {
      const rules = inv.stacks.get(dep.stack)?.config.environments[dep.environment]?.firewall_rules ?? [];
      groups.push({ title: `stack ${dep.stack} (environment ${dep.environment})`, rules });
    }
  }
  // With the cluster firewall off its rules guard nothing, so no guest rule counts as their copy.
  const cluster = inv.clusterFirewall.enabled ? clusterPlan(inv).file.rules : [];
  return plan({ enable: '1' }, groups, cluster);
}

/** The rule model of cluster.fw, as parseFirewallFile reads it back. */
export function clusterFirewallModel(inv: Inventory): FirewallFile {
  return clusterPlan(inv).file;
}

/** The rule model of `<vmid>.fw`; undefined when Phoenix manages no firewall file for that guest. */
export function guestFirewallModel(inv: Inventory, guestId: GuestId): FirewallFile | undefined {
  return guestPlan(inv, guestId)?.file;
}

export function clusterFirewall(inv: Inventory): string {
  const p = clusterPlan(inv);
  const header = [
    generatedHeader(),
    '# Cluster-wide options and the global rules, which Proxmox applies to the hosts (not to guests).',
  ];
  return formatFirewallFile(p.file, header, p.lines);
}

export function guestFirewall(inv: Inventory, guestId: GuestId): string | undefined {
  const p = guestPlan(inv, guestId);
  if (!p) return undefined;
  const header = [
    generatedHeader(),
    `# Firewall of guest ${guestId}: its own rules, then those of the stacks deployed to it.`,
  ];
  return formatFirewallFile(p.file, header, p.lines);
}
