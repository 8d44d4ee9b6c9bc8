import type { GuestRef, Inventory } from '../../model/inventory.js';
import { DriverError } from '../errors.js';
import { dnsProbeAt } from './dns.js';
import { httpGetAt } from './http.js';
import { servedCertificateAt } from './tls.js';
import type { DnsProbe, HttpProbe, TlsProbe } from './types.js';

/**
 * The live probes of a target, dialling each guest at the address `dial` gives for its configured one:
 * the lab maps it into 127/8 (and refuses anything else), a real host dials it as configured.
 */
export interface Probes {
  readonly tls: TlsProbe;
  readonly dns: DnsProbe;
  readonly http: HttpProbe;
}

export function probesFor(inv: Inventory, dial: (configured: string) => string): Probes {
  const addressOf = (guest: GuestRef): string => {
    const ip = guest === 'host' ? inv.hostAddress : inv.guests.get(guest)?.ip;
    if (ip === undefined || ip === 'dhcp') throw new DriverError(`${guest} has no static address to dial`);
    return dial(ip);
  };
  const at = <T>(guest: GuestRef, fn: (address: string) => Promise<T>): Promise<T> => {
    try {
      return fn(addressOf(guest));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  };
  return {
    tls: { served: (r) => at(r.guest, (a) => servedCertificateAt(a, r.port, r.serverName, r.signal)) },
    http: { get: (r) => at(r.guest, (a) => httpGetAt(a, r)) },
    dns: {
      lookup: (name, opts) =>
        at('host', (a) => dnsProbeAt(a).lookup(name, opts)).catch((e: unknown) => {
          throw e instanceof DriverError && /no static address/.test(e.message)
            ? new DriverError('the configuration gives the host no address: no DNS to ask')
            : e;
        }),
    },
  };
}
