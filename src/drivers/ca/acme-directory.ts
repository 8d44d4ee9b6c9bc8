import { rootCertificates } from 'node:tls';
import { DriverError } from '../errors.js';
import { TransportError, httpsTransport } from './trust.js';
import type { HttpsResponse, HttpsTransport } from './trust.js';

/**
 * The ACME directory (RFC 8555 §7.1.1), fetched by Phoenix itself over node:https with the configured trust:
 * acme-client (axios) reports a TLS failure as a bare TypeError, so every failure to talk to the CA is
 * named here first, with the URL and the real reason.
 */

export interface AcmeDirectory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
  /** RFC 9773: present when the CA offers ACME Renewal Information. */
  readonly renewalInfo?: string;
  readonly meta?: { readonly externalAccountRequired?: boolean; readonly termsOfService?: string };
}

export interface AcmeHttp {
  /** PEM of the root(s) the CA's TLS listener must chain to. */
  readonly trustPem: string;
  readonly timeoutMs: number;
  readonly transport: HttpsTransport;
}

/** Without configured trust a public CA is verified against Node's bundled roots, never unverified. */
export function acmeHttp(
  trustPem: string | undefined,
  timeoutMs: number,
  transport?: HttpsTransport,
): AcmeHttp {
  return {
    trustPem: trustPem ?? rootCertificates.join('\n'),
    timeoutMs,
    transport: transport ?? httpsTransport,
  };
}

/** One GET, its failures as DriverErrors that say what was asked (`what`) of which URL. */
export async function acmeGet(http: AcmeHttp, url: string, what: string): Promise<HttpsResponse> {
  try {
    return await http.transport({
      method: 'GET',
      url,
      trust: { ca: http.trustPem },
      timeoutMs: http.timeoutMs,
    });
  } catch (err) {
    throw transportFailure(err, `${what} ${url}`, http.timeoutMs);
  }
}

export async function fetchAcmeDirectory(http: AcmeHttp, url: string): Promise<AcmeDirectory> {
  const what = `ACME directory ${url}`;
  const res = await acmeGet(http, url, 'ACME directory');
  if (res.status !== 200) throw httpFailure(what, res);
  let dir: unknown;
  try {
    dir = JSON.parse(res.body);
  } catch {
    throw new DriverError(
      `${what} answered HTTP 200 but not JSON: ${preview(res.body)}`,
      false,
      'ca-protocol',
    );
  }
  const missing = ['newNonce', 'newAccount', 'newOrder'].filter(
    (k) => typeof (dir as Record<string, unknown> | null)?.[k] !== 'string',
  );
  if (dir === null || typeof dir !== 'object' || Array.isArray(dir) || missing.length > 0) {
    throw new DriverError(
      `${what} is not an ACME directory (no ${missing.join(', ') || 'object'})`,
      false,
      'ca-protocol',
    );
  }
  return dir as AcmeDirectory;
}

/** An HTTP status other than the expected one, with the CA's RFC 7807 detail when it sent one. */
export function httpFailure(what: string, res: HttpsResponse): DriverError {
  let detail = '';
  try {
    const problem = JSON.parse(res.body) as { detail?: unknown };
    if (typeof problem?.detail === 'string') detail = `: ${problem.detail}`;
  } catch {
    detail = res.body.trim() === '' ? '' : `: ${preview(res.body)}`;
  }
  const retryable = res.status === 429 || res.status >= 500;
  return new DriverError(
    `${what} answered HTTP ${res.status}${detail}`,
    retryable,
    res.status >= 500 ? 'ca-server' : 'ca-rejected',
  );
}

export function transportFailure(err: unknown, what: string, timeoutMs: number): DriverError {
  if (!(err instanceof TransportError)) {
    return new DriverError(
      `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
      false,
      'ca-protocol',
    );
  }
  switch (err.kind) {
    case 'unreachable':
      return new DriverError(
        `cannot reach ${what}: the CA is unreachable (${err.errorCode ?? 'connection failed'})`,
        true,
        'ca-unreachable',
      );
    case 'timeout':
      return new DriverError(`${what} did not answer within ${timeoutMs} ms`, true, 'ca-timeout');
    case 'tls':
      return new DriverError(
        `TLS verification of ${what} failed: ${tlsReason(err.errorCode)} (${err.errorCode ?? 'handshake'}); ` +
          'the server does not prove it belongs to the configured trust root',
        false,
        'ca-tls',
      );
    default:
      return new DriverError(`${what} failed: ${err.message}`, false, 'ca-protocol');
  }
}

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** OpenSSL's codes in words an operator recognises. */
export function tlsReason(code: string | undefined): string {
  if (code !== undefined && UNKNOWN_AUTHORITY.has(code)) return 'certificate signed by an unknown authority';
  if (code === 'CERT_HAS_EXPIRED') return 'certificate has expired';
  if (code === 'CERT_NOT_YET_VALID') return 'certificate is not yet valid';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return 'certificate is not valid for this host name or address';
  }
  return 'handshake failed';
}

function preview(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}
