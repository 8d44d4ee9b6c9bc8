import { Resolver } from 'node:dns/promises';
import { DriverError } from '../errors.js';
import type { DnsProbe } from './types.js';

/** c-ares codes that are an answer ("no such name", "no address of that type"), not a failure to answer. */
const NO_ADDRESS = new Set(['ENOTFOUND', 'ENODATA']);

/** A DNS probe that asks one server (`address`, port 53) for A records, with a short timeout and no retry storm. */
export function dnsProbeAt(address: string, port = 53): DnsProbe {
  return {
    async lookup(name, opts = {}) {
      const resolver = new Resolver({ timeout: 1_000, tries: 2 });
      resolver.setServers([`${address}:${port}`]);
      const cancel = () => resolver.cancel();
      opts.signal?.addEventListener('abort', cancel, { once: true });
      try {
        return (await resolver.resolve4(name)).sort();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (NO_ADDRESS.has(code)) return [];
        throw new DriverError(
          `the DNS server at ${address}:${port} gave no answer for ${name}: ${code || String(e)}`,
        );
      } finally {
        opts.signal?.removeEventListener('abort', cancel);
      }
    },
  };
}
