import { X509Certificate } from 'node:crypto';
import { normaliseSerial } from '../../certs/x509.js';
import { DriverError } from '../errors.js';
import type { TlsProbe } from '../probe/types.js';
import type { MemoryWorld } from './world.js';

/** What the emulated nginx serves: the certificates of its last successful load (nginx-model.ts). */
export function memoryTlsProbe(world: MemoryWorld): TlsProbe {
  return {
    served({ guest, port, serverName }) {
      const where = `${serverName} at ${guest}:${port}`;
      const running = guest === 'host' || world.guest(guest)?.status === 'running';
      const nginx = world.space(guest)?.services.nginx;
      if (!running || !nginx?.active)
        return Promise.reject(new DriverError(`no certificate served for ${where}: ECONNREFUSED`));
      const pem = nginx.served?.[serverName.toLowerCase()];
      if (!pem)
        return Promise.reject(new DriverError(`no certificate served for ${where}: handshake rejected`));
      const cert = new X509Certificate(pem);
      return Promise.resolve({ serial: normaliseSerial(cert.serialNumber), certPem: cert.toString() });
    },
  };
}
