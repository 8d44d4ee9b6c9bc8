import { createHash } from 'node:crypto';
import { loadX509, splitPemChain } from '../../certs/x509.js';
import { DriverError } from '../errors.js';
import { acmeGet, httpFailure } from './acme-directory.js';
import type { AcmeHttp } from './acme-directory.js';
import type { RenewalInfo } from './types.js';

/**
 * ACME Renewal Information (RFC 9773): the certificate identifier, the CA's suggested window, and the
 * moment inside it at which Phoenix renews. RFC 9773 §4.2 asks for a uniformly random moment; Phoenix
 * derives it from the serial instead, so that `plan` and `apply` (and repeated runs) agree.
 */

/** The DER content octets of a positive INTEGER given as hex: minimal, with a 0x00 when the top bit is set. */
export function serialBytes(hex: string): Buffer {
  let digits = hex.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(digits)) throw new Error(`serial ${JSON.stringify(hex)} is not hex`);
  digits = digits.replace(/^0+/, '');
  if (digits.length % 2 === 1) digits = `0${digits}`;
  const bytes = Buffer.from(digits, 'hex');
  if (bytes.length === 0) return Buffer.from([0]);
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/** RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial content octets), both unpadded. */
export function ariCertIdOf(keyIdentifierHex: string, serialHex: string): string {
  const keyId = Buffer.from(keyIdentifierHex.replace(/[:\s]/g, ''), 'hex');
  return `${keyId.toString('base64url')}.${serialBytes(serialHex).toString('base64url')}`;
}

/**
 * The ARI identifier of the first certificate in the PEM, or undefined when it has no Authority Key
 * Identifier with a keyIdentifier (then the CA cannot be asked about it).
 */
export async function ariCertId(certPem: string): Promise<string | undefined> {
  const first = splitPemChain(certPem)[0];
  if (first === undefined) throw new DriverError('no PEM certificate to ask renewal information for');
  const x509 = await loadX509();
  let cert: InstanceType<typeof x509.X509Certificate>;
  try {
    cert = new x509.X509Certificate(first);
  } catch {
    throw new DriverError('cannot parse the certificate to ask renewal information for');
  }
  const keyId = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  return keyId ? ariCertIdOf(keyId, cert.serialNumber) : undefined;
}

/** A point in [start, end], the same for the same serial: the fraction comes from SHA-256 of the serial. */
export function renewAfterIn(start: Date, end: Date, serial: Uint8Array): Date {
  const fraction = createHash('sha256').update(serial).digest().readUIntBE(0, 6) / 2 ** 48;
  const ms = start.getTime() + Math.floor(fraction * (end.getTime() - start.getTime()));
  // Whole seconds: what is stored and printed stays readable and stable.
  return new Date(Math.max(start.getTime(), Math.floor(ms / 1000) * 1000));
}

/** The renewalInfo answer (RFC 9773 §4.2) for the certificate with this identifier. */
export function parseRenewalInfo(body: string, certId: string, what = 'renewalInfo'): RenewalInfo {
  let json: { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown };
  try {
    json = JSON.parse(body) as typeof json;
  } catch {
    throw new DriverError(`${what} is not JSON`, false, 'ca-protocol');
  }
  const start = dateOf(json?.suggestedWindow?.start);
  const end = dateOf(json?.suggestedWindow?.end);
  if (start === undefined || end === undefined) {
    throw new DriverError(`${what} has no valid suggestedWindow {start, end}`, false, 'ca-protocol');
  }
  // RFC 9773 §4.2: a window whose end is not after its start is invalid.
  if (end.getTime() <= start.getTime()) {
    throw new DriverError(
      `${what} suggests a window that ends (${end.toISOString()}) before it starts (${start.toISOString()})`,
      false,
      'ca-protocol',
    );
  }
  const serial = Buffer.from(certId.slice(certId.indexOf('.') + 1), 'base64url');
  return {
    windowStart: start.toISOString(),
    windowEnd: end.toISOString(),
    renewAfter: renewAfterIn(start, end, serial).toISOString(),
    ...(typeof json.explanationURL === 'string' ? { explanationUrl: json.explanationURL } : {}),
  };
}

/**
 * GET `<renewalInfo>/<certID>`. Undefined when the certificate has no AKI or the CA does not know it (404):
 * the caller then decides by lifetime alone.
 */
export async function fetchRenewalInfo(
  http: AcmeHttp,
  renewalInfoUrl: string,
  certPem: string,
): Promise<RenewalInfo | undefined> {
  const certId = await ariCertId(certPem);
  if (certId === undefined) return undefined;
  const url = `${renewalInfoUrl.replace(/\/+$/, '')}/${certId}`;
  const res = await acmeGet(http, url, 'ACME renewalInfo');
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw httpFailure(`ACME renewalInfo ${url}`, res);
  return parseRenewalInfo(res.body, certId, `ACME renewalInfo ${url}`);
}

function dateOf(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
