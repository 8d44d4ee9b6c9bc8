import type { IncomingHttpHeaders } from 'node:http';
import { TransportError, httpsExchange } from '../ca/trust.js';

/**
 * One HTTPS exchange with Portainer, verified against a pinned CA (the internal CA root that issued
 * Portainer's certificate). There is no way to turn verification off here. Errors are classified
 * (unreachable / timeout / tls / protocol) with the same TransportError the CA drivers use; a message
 * names the method and the URL path only — never headers or bodies, which carry tokens and passwords.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface PortainerHttpRequest {
  readonly method: HttpMethod;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** PEM of the CA that must have issued the server's certificate. */
  readonly ca: string;
  /** The name the certificate must carry when the URL holds an address (SNI and verification). */
  readonly servername?: string;
  readonly timeoutMs: number;
}

export interface PortainerHttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type PortainerTransport = (request: PortainerHttpRequest) => Promise<PortainerHttpResponse>;

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** ECONNREFUSED & co.: the request never reached a listening server, so repeating it is always safe. */
export const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export const portainerHttpsTransport: PortainerTransport = (req) => {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return Promise.reject(new TransportError('invalid Portainer URL', 'protocol'));
  }
  const where = `${req.method} ${url.pathname}`;
  if (url.protocol !== 'https:')
    return Promise.reject(new TransportError(`${where}: Portainer is only spoken to over HTTPS`, 'protocol'));
  return httpsExchange(url, {
    method: req.method,
    headers: req.headers,
    ...(req.body !== undefined ? { body: req.body } : {}),
    tls: { ca: req.ca, rejectUnauthorized: true, ...(req.servername ? { servername: req.servername } : {}) },
    timeoutMs: req.timeoutMs,
    where,
    maxBytes: MAX_RESPONSE_BYTES,
  });
};
