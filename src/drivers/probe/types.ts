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
