import { pointer, type Origin } from '../diagnostics.js';
import type { FirewallRuleConfig } from '../schema/common.js';
import { describeOrigin, guestLabel, type RuleContext } from './context.js';

type Located = FirewallRuleConfig & { readonly origin: Origin };

/**
 * A rule that repeats another of the same firewall (differing at most in its comment) is noise that hides
 * which copy is meant; the original files have several. Scopes are the ones Proxmox compiles separately:
 * the cluster (host) rules, each guest's rules, and the rules a stack brings to the VM that deploys it.
 * Cluster rules guard the host, not the guests, so a guest rule equal to a cluster rule is not a repeat.
 */
export function checkFirewall({ inv, raw, diags }: RuleContext): void {
  const stackRules = new Map<string, Map<string, Located[]>>();
  for (const s of raw.stacks.values()) {
    const byEnv = new Map<string, Located[]>();
    for (const [env, cfg] of Object.entries(s.config?.environments ?? {})) {
      const rules = (cfg.firewall_rules ?? []).map((r, i) => ({
        ...r,
        origin: { file: s.file, pointer: pointer('environments', env, 'firewall_rules', i) },
      }));
      byEnv.set(env, rules);
      repeatsWithin(rules, `environment "${env}" of stack "${s.name}"`, { inv, raw, diags });
    }
    stackRules.set(s.name, byEnv);
  }
  repeatsWithin(inv.clusterFirewall.rules, 'the cluster firewall', { inv, raw, diags });

  for (const g of inv.guests.values()) {
    repeatsWithin(g.firewall.rules, `the firewall of ${guestLabel(g)}`, { inv, raw, diags });
    if (g.kind !== 'vm') continue;
    // A stack's rules land in the firewall of the VM that deploys it: the VM need not repeat them.
    const brought = g.stacks.flatMap((d) => stackRules.get(d.stack)?.get(d.environment) ?? []);
    for (const rule of g.firewall.rules) {
      const twin = brought.find((b) => sameRule(b, rule));
      if (!twin) continue;
      diags.warning(
        rule.origin,
        'firewall.duplicate-rule',
        `this rule of ${guestLabel(g)} (${describeRule(rule)}) repeats a rule that a stack it deploys already brings ` +
          `(${describeOrigin(twin.origin, inv.configDir)}). Remove it here and let the stack carry it.`,
      );
    }
  }
}

function repeatsWithin(rules: readonly Located[], scope: string, { inv, diags }: RuleContext): void {
  rules.forEach((rule, i) => {
    const j = rules.findIndex((earlier) => sameRule(earlier, rule));
    if (j >= i) return;
    const earlier = rules[j]!;
    const comments =
      (earlier.comment ?? '') === (rule.comment ?? '')
        ? 'identically'
        : `except for its comment (${JSON.stringify(rule.comment ?? '')} vs ${JSON.stringify(earlier.comment ?? '')})`;
    diags.warning(
      rule.origin,
      'firewall.duplicate-rule',
      `rule ${i} of ${scope} repeats rule ${j} (${describeRule(rule)}) ${comments}; Proxmox would get it twice. ` +
        `Remove one of them, keeping the comment that says why the traffic is allowed (${describeOrigin(earlier.origin, inv.configDir)}).`,
    );
  });
}

function sameRule(a: FirewallRuleConfig, b: FirewallRuleConfig): boolean {
  return ruleKey(a) === ruleKey(b);
}

/** Everything Proxmox acts on; lists are order-insensitive ("80,443" is "443,80"), comments do not count. */
function ruleKey(r: FirewallRuleConfig): string {
  const list = (v: string | undefined) => (v === undefined ? '' : v.split(',').sort().join(','));
  return JSON.stringify([
    r.type,
    r.action,
    list(r.source),
    list(r.dest),
    r.proto ?? '',
    list(r.port),
    list(r.sport),
    r.enabled !== false,
  ]);
}

function describeRule(r: FirewallRuleConfig): string {
  const parts = [
    r.type,
    r.action,
    r.proto,
    r.port && `port ${r.port}`,
    r.source && `from ${r.source}`,
    r.dest && `to ${r.dest}`,
  ];
  return parts.filter(Boolean).join(' ');
}
