import type { Guest } from '../../../model/inventory.js';
import { checkValue } from './values.js';

/** Options LXC and QEMU spell the same way: onboot, startup, nameserver. */

/**
 * `startup: order=<n>,up=<s>` (pve-startup-order). `up` is the delay before the next guest starts, which is
 * what `boot_delay` means. Nothing is written for order 0 and delay 0: an absent option reads back as that.
 */
export function startupOption(boot: Guest['boot']): string | undefined {
  if (boot.order === 0 && boot.delaySeconds === 0) return undefined;
  const parts = [`order=${boot.order}`];
  if (boot.delaySeconds > 0) parts.push(`up=${boot.delaySeconds}`);
  return parts.join(',');
}

/** `nameserver: a b` — Proxmox stores the list space-separated (verify_nameserver_list joins with " "). */
export function nameserverOption(g: Guest): string | undefined {
  if (!g.nameservers.length) return undefined;
  return g.nameservers
    .map((ns, i) => checkValue(ns, { origin: g.origin, option: 'nameserver', what: `nameserver ${i + 1}` }))
    .join(' ');
}

/** The options both kinds share; every value is already a plain string. */
export function bootParams(g: Guest): Record<string, string> {
  const out: Record<string, string> = { onboot: g.boot.onBoot ? '1' : '0' };
  const startup = startupOption(g.boot);
  if (startup !== undefined) out.startup = startup;
  return out;
}

/** `10.0.0.10/24`, `dhcp`, or undefined when the guest declares no network address. */
export function addressOf(g: Guest): string | undefined {
  if (g.ip !== undefined) return `${g.ip}/${g.prefixLength ?? 32}`;
  return g.config.network_config ? 'dhcp' : undefined;
}
