import type { IssuerDriver } from './ca/types.js';
import type { ContainerDriver } from './containers/types.js';
import type { HypervisorDriver } from './hypervisor/types.js';
import type { PortainerDriver } from './portainer/driver.js';
import type { SecretSource } from './secrets/types.js';
import type { DnsProbe, HttpProbe, TlsProbe } from './probe/types.js';

/** Everything the resources may touch of the outside world. */
export interface Drivers {
  readonly hypervisor: HypervisorDriver;
  /** Docker on a guest, reached directly: what must run before Portainer can (its server, the agents). */
  readonly containers: ContainerDriver;
  /** The Portainer API: administrator, environments, and the stacks and volumes deployed through it. */
  readonly portainer: PortainerDriver;
  /** Secrets the Docker side needs (never traced). */
  readonly secrets: SecretSource;
  /** The driver for a named issuer of the certificate manifest. */
  issuer(name: string): IssuerDriver;
  /** What live TLS endpoints serve (read-only). */
  readonly tls: TlsProbe;
  /** What the host's DNS answers (read-only). */
  readonly dns: DnsProbe;
  /** What live HTTP(S) endpoints answer (read-only). */
  readonly http: HttpProbe;
}
