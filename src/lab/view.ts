import type { GuestId, Inventory, Issuer } from '../model/inventory.js';

/**
 * The lab's view of an inventory: the same inventory with every IPv4 address moved into 127/8 (the last
 * three octets kept: 10.0.0.153 → 127.0.0.153, 10.0.0.0/24 → 127.0.0.0/24), the CA issuers' URLs pointed at
 * the CA guest's lab address and port, and no DNS upstreams. Generators and drivers that read this view can
 * never produce or reach a 10.x address. Pure: the given inventory is not changed.
 */

const ANY_IPV4 = /(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])/g;

/** Every IPv4 address in a text moved into 127/8 (CIDRs keep their prefix); other text unchanged. */
export function labText(text: string): string {
  return text.replace(ANY_IPV4, (whole, a: string, b: string, c: string, d: string) =>
    [a, b, c, d].every((o) => Number(o) <= 255) ? `127.${b}.${c}.${d}` : whole,
  );
}

/** Every string below `value` passed through labText; Maps, Sets, arrays and plain objects copied. */
function deepMap<T>(value: T): T {
  if (typeof value === 'string') return labText(value) as T;
  if (Array.isArray(value)) return value.map((v) => deepMap(v)) as T;
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, deepMap(v)])) as T;
  if (value instanceof Set) return new Set([...value].map((v) => deepMap(v))) as T;
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepMap(v)])) as T;
  }
  return value;
}

/** The guest that runs step-ca: step_ca.guest, else the (first) guest with feature step_ca. */
export function caGuestOf(inv: Inventory): GuestId | undefined {
  const configured = inv.hypervisor.step_ca?.guest;
  if (configured !== undefined) return Number(configured);
  for (const g of inv.guests.values()) if (g.features.includes('step_ca') && !g.isTemplate) return g.id;
  return undefined;
}

/** The port step-ca listens on: step_ca.port, default 9000. */
export function caPortOf(inv: Inventory): number {
  return Number(inv.hypervisor.step_ca?.port ?? 9000);
}

/** The lab URL of the CA (https://127.x.y.z:port), or undefined when no guest with an address runs it. */
export function labCaUrl(inv: Inventory): string | undefined {
  const id = caGuestOf(inv);
  const ip = id === undefined ? undefined : inv.guests.get(id)?.ip;
  if (ip === undefined || ip === 'dhcp') return undefined;
  return `https://${labText(ip.split('/')[0]!)}:${caPortOf(inv)}`;
}

/** `url` with its origin replaced by `base`'s, path/query kept. */
function rebase(url: string, base: string): string {
  const u = new URL(url);
  const b = new URL(base);
  u.protocol = b.protocol;
  u.host = b.host;
  return u.pathname === '/' && !u.search ? b.origin : u.toString();
}

export function labView(inv: Inventory): Inventory {
  const mapped = deepMap(inv);
  const caUrl = labCaUrl(mapped);
  const issuers = new Map<string, Issuer>();
  for (const [name, issuer] of mapped.issuers) {
    if (caUrl === undefined) {
      issuers.set(name, issuer);
    } else if (issuer.type === 'step-ca-jwk') {
      issuers.set(name, { ...issuer, url: rebase(issuer.url, caUrl) });
    } else {
      issuers.set(name, { ...issuer, directory: rebase(issuer.directory, caUrl) });
    }
  }
  return {
    ...mapped,
    // The inventory's own directory is a path, not an address: keep it exactly.
    configDir: inv.configDir,
    issuers,
    dns: { ...mapped.dns, upstream: [] },
  };
}
