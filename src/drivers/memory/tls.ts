import { X509Certificate } from 'node:crypto';
import { normaliseSerial } from '../../certs/x509.js';
import { DriverError } from '../errors.js';
import type { TlsProbe } from '../probe/types.js';
import { flag, guestPathOf } from './container-paths.js';
import type { MemoryWorld, WorldGuest } from './world.js';

/**
 * What the world serves: a running container that publishes the port and names its certificate with
 * `--sslcert` (Portainer) serves that file of its guest; otherwise the emulated nginx serves the
 * certificates of its last successful load (nginx-model.ts).
 */
export function memoryTlsProbe(world: MemoryWorld): TlsProbe {
  return {
    served({ guest, port, serverName }) {
      const where = `${serverName} at ${guest}:${port}`;
      const running = guest === 'host' || world.guest(guest)?.status === 'running';
      const fromContainer = guest === 'host' ? undefined : containerCertificate(world.guest(guest), port);
      if (running && fromContainer) return Promise.resolve(servedOf(fromContainer));
      const nginx = world.space(guest)?.services.nginx;
      if (!running || !nginx?.active)
        return Promise.reject(new DriverError(`no certificate served for ${where}: ECONNREFUSED`));
      const pem = nginx.served?.[serverName.toLowerCase()];
      if (!pem)
        return Promise.reject(new DriverError(`no certificate served for ${where}: handshake rejected`));
      return Promise.resolve(servedOf(pem));
    },
  };
}

function containerCertificate(g: WorldGuest | undefined, port: number): string | undefined {
  for (const c of Object.values(g?.docker.containers ?? {})) {
    if (!c.running || !c.ports?.some((p) => p.host === port && p.protocol === 'tcp')) continue;
    const inContainer = flag(c.command ?? [], '--sslcert');
    const path = inContainer && guestPathOf(c, inContainer);
    const file = path ? g?.files[path] : undefined;
    if (file) return Buffer.from(file.content, 'base64').toString('utf8');
  }
  return undefined;
}

function servedOf(pem: string) {
  const cert = new X509Certificate(pem);
  return { serial: normaliseSerial(cert.serialNumber), certPem: cert.toString() };
}
