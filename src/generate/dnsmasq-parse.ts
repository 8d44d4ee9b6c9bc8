/**
 * Reads dnsmasq records back: what a dnsmasq loading these lines answers for an A query. The inverse of
 * dnsmasqConfig for the directives that publish addresses (`host-record=`, and `address=/domain/ip` for
 * hand-written neighbours in dnsmasq.d), used by the emulated DNS and by tests. Option lines that publish
 * nothing (`domain-needed`, `server=`...) are skipped; a malformed record line fails with its line number,
 * as dnsmasq refuses to start on one.
 */

export interface DnsmasqRecords {
  /** host-record names (lower case) → IPv4 addresses, in file order. */
  readonly hosts: ReadonlyMap<string, readonly string[]>;
  /** address=/d1/d2/ip: the domains and every name below them. */
  readonly domains: ReadonlyArray<{ readonly domains: readonly string[]; readonly address: string }>;
}

const IPV4_RE = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const parseIpv4 = (s: string): boolean => IPV4_RE.test(s);
const NAME_RE =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

export function parseDnsmasqRecords(text: string, file = 'records'): DnsmasqRecords {
  const hosts = new Map<string, string[]>();
  const domains: Array<{ domains: string[]; address: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const bad = (why: string) => new Error(`${file} line ${i + 1}: ${why}: ${line}`);
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (key === 'host-record') {
      const parts = value.split(',').map((p) => p.trim());
      const names: string[] = [];
      const v4: string[] = [];
      parts.forEach((p, at) => {
        if (parseIpv4(p)) v4.push(p);
        else if (p.includes(':'))
          return; // an IPv6 address: not an A record
        else if (at === parts.length - 1 && at > 0 && /^\d+$/.test(p))
          return; // the TTL
        else if (NAME_RE.test(p.toLowerCase())) names.push(p.toLowerCase());
        else throw bad(`"${p}" is neither a name nor an address`);
      });
      if (names.length === 0) throw bad('host-record without a name');
      if (v4.length > 1) throw bad('host-record with two IPv4 addresses');
      for (const n of names) {
        const list = hosts.get(n) ?? [];
        list.push(...v4);
        hosts.set(n, list);
      }
    } else if (key === 'address') {
      const m = /^\/(.+)\/([^/]*)$/.exec(value);
      if (!m) throw bad('address= needs /domain/address');
      if (m[2] !== '' && !parseIpv4(m[2]!) && !m[2]!.includes(':')) throw bad(`"${m[2]}" is not an address`);
      if (parseIpv4(m[2]!)) domains.push({ domains: m[1]!.toLowerCase().split('/'), address: m[2]! });
    }
  });
  return { hosts, domains };
}

/** Several files dnsmasq reads (a conf-dir) as one set of records. */
export function mergeRecords(all: readonly DnsmasqRecords[]): DnsmasqRecords {
  const hosts = new Map<string, string[]>();
  for (const r of all) for (const [n, a] of r.hosts) hosts.set(n, [...(hosts.get(n) ?? []), ...a]);
  return { hosts, domains: all.flatMap((r) => r.domains) };
}

/** The A records a dnsmasq with these records answers for `name`: host records first, then address=. */
export function answerFor(records: DnsmasqRecords, name: string): string[] {
  const n = name.toLowerCase().replace(/\.$/, '');
  const exact = records.hosts.get(n);
  if (exact) return [...new Set(exact)].sort();
  let best: { length: number; address: string } | undefined;
  for (const d of records.domains) {
    for (const dom of d.domains) {
      if ((n === dom || n.endsWith(`.${dom}`)) && (!best || dom.length > best.length))
        best = { length: dom.length, address: d.address };
    }
  }
  return best ? [best.address] : [];
}
