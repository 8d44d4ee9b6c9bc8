import type { GuestRef } from '../../model/inventory.js';

/**
 * Looks at what a live service really serves. A certificate counts as done only when the TLS endpoint that
 * should present it does: nginx can accept a reload and keep serving the old certificate (a mismatched pair
 * on SIGHUP), and only the served serial shows it.
 */

export interface ServedCertificate {
  /** Upper-case hex without leading zero bytes (normaliseSerial). */
  readonly serial: string;
  /** The leaf the server presented. */
  readonly certPem: string;
}

export interface TlsProbeRequest {
  /** The guest whose address is dialled (the driver knows it; the lab dials its 127/8 stand-in). */
  readonly guest: GuestRef;
  readonly port: number;
  /** SNI. */
  readonly serverName: string;
  readonly signal?: AbortSignal;
}

export interface TlsProbe {
  /**
   * The leaf served for `serverName`, read without verifying it (the caller compares it with what it
   * installed). Throws a DriverError when nothing answers or the handshake fails.
   */
  served(request: TlsProbeRequest): Promise<ServedCertificate>;
}

/**
 * Asks the host's DNS server (dnsmasq) what a name resolves to. Read-only: a lookup changes nothing, so
 * verification can prove that the running server answers what the generated records say.
 */
export interface DnsProbe {
  /**
   * The IPv4 addresses (A records) the host DNS answers for `name`, sorted; [] when it answers that the name
   * has none (NXDOMAIN or NODATA). Throws a DriverError when the server does not answer at all.
   */
  lookup(name: string, opts?: { readonly signal?: AbortSignal }): Promise<string[]>;
}

export interface HttpProbeRequest {
  /** The guest whose address is dialled (the lab dials its 127/8 stand-in). */
  readonly guest: GuestRef;
  readonly port: number;
  readonly scheme: 'http' | 'https';
  /** The Host header, and the SNI for https. */
  readonly serverName: string;
  /** Default "/". */
  readonly path?: string;
  /** PEM roots the served chain must verify against (https only, required there: the probe never skips verification). */
  readonly trustedRoots?: string;
  readonly signal?: AbortSignal;
}

export interface HttpProbeResponse {
  readonly status: number;
  /** Lower-case names; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The start of the body (at most 4 KiB), as text. */
  readonly body: string;
}

/** Why a probe got no answer: nothing listens, the TLS handshake failed, the chain did not verify, no answer in time. */
export type ProbeFailure = 'refused' | 'handshake' | 'untrusted' | 'timeout' | 'other';

/** One GET request to a live endpoint (read-only): what the gateway and the mesh behind it answer. */
export interface HttpProbe {
  /** Resolves with any HTTP answer (a 502 is an answer); rejects with a ProbeError when there is none. */
  get(request: HttpProbeRequest): Promise<HttpProbeResponse>;
}
