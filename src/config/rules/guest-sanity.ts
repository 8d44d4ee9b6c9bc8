import { at, describeOrigin, guestLabel, type RuleContext } from './context.js';

/** Guest settings that are valid one by one but make no sense on this host. */
export function checkGuestSanity({ inv, raw, diags }: RuleContext): void {
  const hostCidr = inv.hypervisor.network?.interfaces?.address;
  const hostNet = hostCidr ? parseCidr(hostCidr) : undefined;
  const hostField = raw.hypervisor
    ? describeOrigin({ file: raw.hypervisor.file, pointer: '/network/interfaces/address' }, inv.configDir)
    : 'the hypervisor file';

  for (const g of inv.guests.values()) {
    if (hostNet && g.ip !== undefined && !inSubnet(g.ip, hostNet)) {
      diags.warning(
        at(g.origin, 'network_config', 'ip'),
        'guest.outside-subnet',
        `${guestLabel(g)} has address ${g.ip}, outside the host's network ${networkOf(hostNet)} (${hostField}); ` +
          'on the shared bridge it cannot reach the host, the DNS server or the other guests without extra routing. ' +
          'Use an address inside that network.',
      );
    }
    if (!g.isTemplate) continue;
    // A template is only ever cloned; boot settings on it promise a start that never happens.
    if (g.boot.order > 0) {
      diags.warning(
        at(g.origin, 'boot_order'),
        'guest.template-boots',
        `${guestLabel(g)} is a template but has boot_order ${g.boot.order}; templates are never started. ` +
          'Set boot_order on the guests cloned from it instead.',
      );
    }
    if (g.boot.onBoot) {
      diags.warning(
        at(g.origin, 'start_at_boot'),
        'guest.template-boots',
        `${guestLabel(g)} is a template but has start_at_boot true; templates are never started. Remove it.`,
      );
    }
  }
}

interface Network {
  readonly base: number;
  readonly prefix: number;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function parseCidr(cidr: string): Network {
  const [ip, prefix] = cidr.split('/') as [string, string];
  const p = Number(prefix);
  return { base: (toInt(ip) & mask(p)) >>> 0, prefix: p };
}

function inSubnet(ip: string, net: Network): boolean {
  return (toInt(ip) & mask(net.prefix)) >>> 0 === net.base;
}

function networkOf(net: Network): string {
  const octets = [24, 16, 8, 0].map((shift) => (net.base >>> shift) & 255);
  return `${octets.join('.')}/${net.prefix}`;
}
