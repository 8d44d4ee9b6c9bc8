import type { IssuerDriver } from './ca/types.js';
import type { ContainerDriver } from './containers/types.js';
import type { HypervisorDriver } from './hypervisor/types.js';
import type { DnsProbe, HttpProbe, TlsProbe } from './probe/types.js';

/** Everything the resources may touch of the outside world. */
export interface Drivers {
  readonly hypervisor: HypervisorDriver;
  readonly containers: ContainerDriver;
  /** The driver for a named issuer of the certificate manifest. */
  issuer(name: string): IssuerDriver;
  /** What live TLS endpoints serve (read-only). */
  readonly tls: TlsProbe;
  /** What the host's DNS answers (read-only). */
  readonly dns: DnsProbe;
  /** What live HTTP(S) endpoints answer (read-only). */
  readonly http: HttpProbe;
}
