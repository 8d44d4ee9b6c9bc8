import type { Guest } from '../../model/inventory.js';
import { at, describeOrigin, guestLabel, type RuleContext } from './context.js';

/**
 * Facts that must be unique across guests: addresses (IP and MAC) and names, which become hostnames and
 * DNS records. Duplicate ids are reported where the inventory is built.
 */
export function checkUniqueness({ inv, raw, diags }: RuleContext): void {
  const seen = {
    ip: new Map<string, Guest>(),
    mac: new Map<string, Guest>(),
    name: new Map<string, Guest>(),
  };
  const where = (g: Guest, field: string) => describeOrigin(at(g.origin, ...field.split('/')), inv.configDir);

  for (const g of inv.guests.values()) {
    if (g.ip !== undefined) {
      const ipOrigin = at(g.origin, 'network_config', 'ip');
      const prior = seen.ip.get(g.ip);
      if (g.ip === inv.hostAddress) {
        const hostField = raw.hypervisor
          ? `${describeOrigin({ file: raw.hypervisor.file, pointer: '/network/interfaces/address' }, inv.configDir)}`
          : 'the hypervisor file';
        diags.error(
          ipOrigin,
          'guest.duplicate-ip',
          `${guestLabel(g)} uses ${g.ip}, which is the host's own address (${hostField}). Give the guest another address.`,
        );
      } else if (prior) {
        diags.error(
          ipOrigin,
          'guest.duplicate-ip',
          `${guestLabel(g)} uses ${g.ip}, which ${guestLabel(prior)} already uses (${where(prior, 'network_config/ip')}). ` +
            'Two guests with one address break each other on the bridge; give one of them another address.',
        );
      } else seen.ip.set(g.ip, g);
    }
    if (g.mac !== undefined) {
      const key = g.mac.toLowerCase();
      const prior = seen.mac.get(key);
      if (prior) {
        diags.error(
          at(g.origin, 'mac_address'),
          'guest.duplicate-mac',
          `${guestLabel(g)} has MAC address ${g.mac}, which ${guestLabel(prior)} already has (${where(prior, 'mac_address')}). ` +
            'Change one of them, or remove mac_address to let Proxmox generate one.',
        );
      } else seen.mac.set(key, g);
    }
    // Hostnames compare case-insensitively, so "Nginx" and "nginx" are one DNS name.
    const name = g.name.toLowerCase();
    const prior = seen.name.get(name);
    if (prior) {
      diags.error(
        at(g.origin, 'name'),
        'guest.duplicate-name',
        `${guestLabel(g)} has the same name as ${guestLabel(prior)} (${where(prior, 'name')}); names are hostnames and DNS ` +
          'records, so each must be unique. Rename one of them.',
      );
    } else seen.name.set(name, g);
  }
}
