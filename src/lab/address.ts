/**
 * Loopback addresses for lab guests. The example configuration is full of 10.x addresses and nothing in the
 * lab may ever connect to them, so every guest address is rewritten into 127/8, which Linux routes to `lo`
 * with no setup: the last three octets are kept (10.0.0.153 → 127.0.0.153), so the guest stays
 * recognisable in logs and `ss` output.
 */

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The four octets of a dotted-quad IPv4 address, or undefined when it is not one. */
export function parseIpv4(text: string): [number, number, number, number] | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
}

/** True for a usable host address in 127/8 (not the /8's network or broadcast address). */
export function isLoopbackV4(address: string): boolean {
  const o = parseIpv4(address);
  if (!o || o[0] !== 127) return false;
  const [, b, c, d] = o;
  return !(b === 0 && c === 0 && d === 0) && !(b === 255 && c === 255 && d === 255);
}

/** Throws unless `address` is a usable 127/8 address: the last line of defence of the network rule. */
export function assertLoopback(address: string, what = 'address'): string {
  if (!isLoopbackV4(address)) {
    throw new Error(`${what} ${JSON.stringify(address)} is not in 127.0.0.0/8: the lab only uses loopback`);
  }
  return address;
}

/**
 * The lab address of a configured IPv4 address (an optional "/prefix" is ignored): 127 followed by its last
 * three octets. Refuses what is not an IPv4 address ("dhcp", IPv6, garbage) and what would land on the
 * network or broadcast address of 127/8 — a listener there would not be reachable as that guest.
 */
export function labAddress(configured: string): string {
  const slash = configured.indexOf('/');
  const bare = slash === -1 ? configured : configured.slice(0, slash);
  if (slash !== -1 && !/^(\d|[12]\d|3[0-2])$/.test(configured.slice(slash + 1))) {
    throw new Error(`cannot map ${JSON.stringify(configured)} into the lab: invalid prefix length`);
  }
  const o = parseIpv4(bare);
  if (!o) {
    throw new Error(`cannot map ${JSON.stringify(configured)} into the lab: not an IPv4 address`);
  }
  const mapped = `127.${o[1]}.${o[2]}.${o[3]}`;
  if (!isLoopbackV4(mapped)) {
    throw new Error(
      `cannot map ${JSON.stringify(configured)} into the lab: ${mapped} is the network or broadcast address of 127/8`,
    );
  }
  return mapped;
}
