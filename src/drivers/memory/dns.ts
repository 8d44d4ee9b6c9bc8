import {
  answerFor,
  mergeRecords,
  parseDnsmasqRecords,
  type DnsmasqRecords,
} from '../../generate/dnsmasq-parse.js';
import { DriverError } from '../errors.js';
import type { DnsProbe } from '../probe/types.js';
import type { MemoryWorld } from './world.js';

/**
 * The emulated host DNS: while the host's dnsmasq unit is active, it answers from every
 * /etc/dnsmasq.d/*.conf of the host's filesystem, read the way dnsmasq reads them (dnsmasq-parse.ts). A
 * stopped dnsmasq answers nothing (the lookup fails like a refused query), and a records file dnsmasq
 * would refuse makes every lookup fail with the line that is wrong.
 */

const CONF_D = /^\/etc\/dnsmasq\.d\/[^/]+\.conf$/;

export function memoryDnsProbe(world: MemoryWorld): DnsProbe {
  return {
    lookup(name) {
      const host = world.state.host;
      if (!host.services.dnsmasq?.active)
        return Promise.reject(
          new DriverError(`the host DNS gave no answer for ${name}: ECONNREFUSED (dnsmasq is not running)`),
        );
      const loaded: DnsmasqRecords[] = [];
      for (const path of Object.keys(host.files)
        .filter((p) => CONF_D.test(p))
        .sort()) {
        try {
          loaded.push(
            parseDnsmasqRecords(Buffer.from(host.files[path]!.content, 'base64').toString('utf8'), path),
          );
        } catch (e) {
          return Promise.reject(
            new DriverError(`dnsmasq cannot load its configuration: ${(e as Error).message}`),
          );
        }
      }
      return Promise.resolve(answerFor(mergeRecords(loaded), name));
    },
  };
}
