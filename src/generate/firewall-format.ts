/**
 * The Proxmox VE firewall file format (`/etc/pve/firewall/cluster.fw`, `<vmid>.fw`), written the way
 * pve-firewall itself writes rules: `[|]DIRECTION ACTION -source A -dest B -p PROTO -dport P -sport P
 * -log LEVEL # comment` (a leading "|" disables the rule). Lines starting with "#" are comments.
 */

export type FirewallAction = 'ACCEPT' | 'DROP' | 'REJECT';
export type LogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warning' | 'notice' | 'info' | 'debug' | 'nolog';

export interface PveRule {
  readonly direction: 'IN' | 'OUT';
  readonly action: FirewallAction;
  readonly enabled: boolean;
  readonly source?: string;
  readonly dest?: string;
  readonly proto?: string;
  readonly dport?: string;
  readonly sport?: string;
  readonly log?: LogLevel;
  readonly comment?: string;
}

export interface FirewallFile {
  readonly options: Record<string, string>;
  readonly rules: PveRule[];
}

/** Emission order of the options, as pve-firewall writes them. */
const RULE_OPTIONS = ['source', 'dest', 'proto', 'dport', 'sport', 'log'] as const;
const FLAG: Record<(typeof RULE_OPTIONS)[number], string> = {
  source: '-source',
  dest: '-dest',
  proto: '-p',
  dport: '-dport',
  sport: '-sport',
  log: '-log',
};
/** What pve-firewall's own parser accepts for each option. */
const FLAG_ALIASES: Record<string, (typeof RULE_OPTIONS)[number]> = {
  '-source': 'source',
  '--source': 'source',
  '-dest': 'dest',
  '--dest': 'dest',
  '-p': 'proto',
  '-proto': 'proto',
  '--proto': 'proto',
  '-dport': 'dport',
  '--dport': 'dport',
  '-sport': 'sport',
  '--sport': 'sport',
  '-log': 'log',
  '--log': 'log',
};
const LOG_LEVELS = new Set(['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug', 'nolog']);

/** A comment is one line; Proxmox strips surrounding blanks itself, so do the same to round-trip exactly. */
export function cleanComment(comment: string | undefined): string | undefined {
  const c = comment?.replace(/\s+/g, ' ').trim();
  return c ? c : undefined;
}

export function formatRule(r: PveRule): string {
  const parts = [`${r.enabled ? '' : '|'}${r.direction}`, r.action];
  for (const key of RULE_OPTIONS) {
    const value = r[key];
    if (value !== undefined) parts.push(FLAG[key], value);
  }
  const comment = cleanComment(r.comment);
  return parts.join(' ') + (comment ? ` # ${comment}` : '');
}

export function formatFirewallFile(
  file: FirewallFile,
  header: readonly string[],
  ruleLines: readonly string[],
): string {
  const out = [
    ...header,
    '',
    '[OPTIONS]',
    '',
    ...Object.entries(file.options).map(([k, v]) => `${k}: ${v}`),
    '',
    '[RULES]',
    '',
  ];
  out.push(...ruleLines);
  return out.join('\n') + '\n';
}

/** Reads a firewall file back (tests and verification). Refuses what Phoenix never writes: macros, groups, ipsets. */
export function parseFirewallFile(text: string): FirewallFile {
  const options: Record<string, string> = {};
  const rules: PveRule[] = [];
  let section: 'options' | 'rules' | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase();
      if (name !== 'options' && name !== 'rules')
        throw new Error(`line ${i + 1}: unsupported section [${header[1]}]`);
      section = name;
      return;
    }
    if (section === 'options') {
      const m = /^([a-z_]+):\s*(\S*)$/i.exec(line);
      if (!m) throw new Error(`line ${i + 1}: not an option: ${line}`);
      options[m[1]!.toLowerCase()] = m[2]!;
    } else if (section === 'rules') {
      rules.push(parseRule(line, i + 1));
    } else {
      throw new Error(`line ${i + 1}: outside any section: ${line}`);
    }
  });
  return { options, rules };
}

function parseRule(line: string, lineNo: number): PveRule {
  const hash = line.indexOf('#');
  const comment = hash >= 0 ? cleanComment(line.slice(hash + 1)) : undefined;
  const body = (hash >= 0 ? line.slice(0, hash) : line).trim();
  const m = /^(\|)?(IN|OUT)\s+(ACCEPT|DROP|REJECT)(?:\s+(.*))?$/i.exec(body);
  if (!m) throw new Error(`line ${lineNo}: not a rule Phoenix writes: ${line}`);
  const rule: { -readonly [K in keyof PveRule]: PveRule[K] } = {
    direction: m[2]!.toUpperCase() as 'IN' | 'OUT',
    action: m[3]!.toUpperCase() as FirewallAction,
    enabled: m[1] === undefined,
  };
  const tokens = (m[4] ?? '').split(/\s+/).filter(Boolean);
  for (let i = 0; i < tokens.length; i += 2) {
    const key = FLAG_ALIASES[tokens[i]!];
    const value = tokens[i + 1];
    if (!key || value === undefined)
      throw new Error(`line ${lineNo}: unknown or incomplete option "${tokens[i]}"`);
    if (key === 'log') {
      if (!LOG_LEVELS.has(value)) throw new Error(`line ${lineNo}: unknown log level "${value}"`);
      rule.log = value as LogLevel;
    } else {
      rule[key] = value;
    }
  }
  if (comment !== undefined) rule.comment = comment;
  return rule;
}
