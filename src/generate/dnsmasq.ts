import type { Inventory } from '../model/inventory.js';
import { gatewayNames } from './routes.js';
import { addressedGuests, byString, gatewayGuest, generatedHeader, guestDnsName } from './topology.js';

/**
 * The host's dnsmasq records. One rule decides where every name goes (docs/network.md):
 *  1. A name the gateway answers for (mesh routes from guests and stack Host() rules, the gateway's own
 *     routed name, certificates installed on the gateway) resolves to the gateway guest, and only to it.
 *  2. A guest's own name, `<name lowercased>.<domain>`, resolves to that guest.
 *  3. Any other name a server certificate (or a VM's dns_records) declares resolves to the one guest the
 *     certificate is installed on (or the declared address).
 * Rule 1 wins every collision, so no routed name ever resolves around the gateway to its backend.
 */

export interface DnsRecord {
  readonly name: string;
  readonly address: string;
  readonly via: 'gateway' | 'direct';
}

interface Plan {
  readonly records: DnsRecord[];
  /** Names that were declared but are not published, and why (written as comments). */
  readonly withheld: string[];
}

function plan(inv: Inventory): Plan {
  const withheld: string[] = [];
  const gw = gatewayGuest(inv);
  const routed = gatewayNames(inv);
  if (routed.length > 0 && !gw)
    throw new Error(
      'names are routed through the gateway, but no gateway guest (feature "nginx") has a static address',
    );
  const taken = new Map<string, string>();
  const records: DnsRecord[] = routed.map(
    (name) => (taken.set(name, gw!.ip), { name, address: gw!.ip, via: 'gateway' as const }),
  );

  const direct: DnsRecord[] = [];
  const addDirect = (name: string, address: string, what: string) => {
    const lower = name.toLowerCase();
    const prior = taken.get(lower);
    if (prior === undefined) {
      taken.set(lower, address);
      direct.push({ name: lower, address, via: 'direct' });
    } else if (prior !== address) {
      withheld.push(
        `${lower} (${what}, ${address}): already resolves to ${prior}${prior === gw?.ip ? ' through the gateway' : ''}`,
      );
    }
  };
  const guests = addressedGuests(inv);
  for (const g of guests) {
    const name = guestDnsName(g, inv.domain);
    if (name) addDirect(name, g.ip!, `own name of guest ${g.id}`);
    else withheld.push(`guest ${g.id} "${g.name}": its name is not a DNS label, so it has no own name`);
  }
  for (const cert of [...inv.certificates].sort((a, b) => byString(a.name, b.name))) {
    if (cert.usage !== 'server') continue;
    const targets = [...new Set(cert.install.map((t) => t.guest))];
    const address = targets.length === 1 ? addressOf(inv, targets[0]!) : undefined;
    for (const n of cert.dnsNames) {
      if (n.startsWith('*.') || taken.has(n.toLowerCase())) continue;
      if (address) addDirect(n, address, `certificate ${cert.name} installed on ${targets[0]}`);
      else
        withheld.push(
          `${n} (certificate ${cert.name}): installed on ${targets.length === 0 ? 'no guest' : 'several guests'}, so no single address`,
        );
    }
  }
  for (const g of guests) {
    if (g.kind !== 'vm') continue;
    for (const r of g.config.dns_records ?? []) addDirect(r.hostname, r.ip, `dns_records of guest ${g.id}`);
  }
  // Guest names first: dnsmasq answers a reverse lookup with the first host-record of an address.
  return { records: [...direct, ...records], withheld: withheld.sort(byString) };
}

function addressOf(inv: Inventory, target: number | 'host'): string | undefined {
  if (target === 'host') return inv.hostAddress;
  const g = inv.guests.get(target);
  return g && !g.isTemplate ? g.ip : undefined;
}

/** Every published name with its address, sorted by name. */
export function dnsRecords(inv: Inventory): DnsRecord[] {
  return [...plan(inv).records].sort((a, b) => byString(a.name, b.name));
}

export function dnsmasqConfig(inv: Inventory): string {
  const { records, withheld } = plan(inv);
  const gw = gatewayGuest(inv);
  const line = (r: DnsRecord) => `host-record=${r.name},${r.address}`;
  const direct = records.filter((r) => r.via === 'direct');
  const out = [
    generatedHeader(),
    '# Routed names resolve to the gateway, guests by their own name resolve to the guest; see docs/network.md.',
    '',
    '# Never forward plain names or private reverse lookups upstream.',
    'domain-needed',
    'bogus-priv',
  ];
  if (inv.dns.upstream.length > 0) {
    out.push(
      '',
      '# Upstream resolvers, in the declared order; /etc/resolv.conf is not read (it may point back here).',
      'no-resolv',
    );
    out.push(...inv.dns.upstream.map((s) => `server=${s}`));
  }
  out.push(
    '',
    `# Answer for ${inv.domain} locally, so a name without an IPv6 address gets NODATA instead of REFUSED.`,
  );
  out.push(`local=/${inv.domain}/`);
  out.push(
    '',
    '# Direct: each guest by its own name, and names a certificate installed on one guest declares.',
  );
  out.push(...direct.map(line));
  if (gw) {
    out.push(
      '',
      `# Through the gateway ${gw.name} (${gw.id}): every routed name resolves to the gateway only.`,
    );
    out.push(...records.filter((r) => r.via === 'gateway').map(line));
  }
  if (withheld.length > 0) out.push('', '# Not published:', ...withheld.map((w) => `#   ${w}`));
  return out.join('\n') + '\n';
}
