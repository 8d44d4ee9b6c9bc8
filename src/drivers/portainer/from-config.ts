import type { Inventory } from '../../model/inventory.js';
import { portainerTopology, serverCertificate } from '../../model/portainer.js';
import type { IssuerDriver } from '../ca/types.js';
import { DriverError } from '../errors.js';
import type { SecretSource } from '../secrets/types.js';
import { PortainerApiDriver } from './api-driver.js';
import type { PortainerDriver } from './driver.js';

export interface PortainerWiring {
  readonly inventory: Inventory;
  readonly issuer: (name: string) => IssuerDriver;
  readonly secrets: SecretSource;
  /** The address to connect to for a configured one (the lab moves it into 127/8). */
  readonly dial: (configured: string) => string;
}

/**
 * The Portainer driver a real target or the lab uses: the API at the primary's address and port, verified
 * against the root of the issuer of the certificate that names the server. Without a Portainer in the
 * configuration, a driver that says so for every call.
 */
export function portainerFromConfig(w: PortainerWiring): PortainerDriver {
  const topology = portainerTopology(w.inventory);
  if (!topology?.server.address) return absentPortainer;
  const { server } = topology;
  const hostname = server.hostname;
  const cert = serverCertificate(w.inventory, server);
  return new PortainerApiDriver({
    baseUrl: `https://${w.dial(server.address)}:${server.port}`,
    ...(hostname ? { servername: hostname } : {}),
    caPem: () => {
      if (!cert) {
        return Promise.reject(
          new DriverError(
            `no certificate in the manifest names ${hostname ?? server.address}: Portainer's certificate cannot be verified`,
          ),
        );
      }
      return w.issuer(cert.issuer).roots();
    },
    adminUser: topology.adminUser,
    secrets: w.secrets,
  });
}

const none = () => Promise.reject(new DriverError('the configuration declares no Portainer server'));

export const absentPortainer: PortainerDriver = {
  name: 'no-portainer',
  status: () =>
    Promise.resolve({ answering: false, reason: 'the configuration declares no Portainer server' }),
  adminExists: none,
  initAdmin: none,
  getEnvironment: none,
  ensureEnvironment: none,
  listVolumes: none,
  createVolume: none,
  getStack: none,
  deployStack: none,
};
