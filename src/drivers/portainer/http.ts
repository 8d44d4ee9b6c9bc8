import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { TransportError, isTlsErrorCode } from '../ca/trust.js';

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
const UNREACHABLE_CODES = new Set([
  ...NOT_SENT_CODES,
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
]);

export const portainerHttpsTransport: PortainerTransport = (req) =>
  new Promise<PortainerHttpResponse>((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      reject(new TransportError('invalid Portainer URL', 'protocol'));
      return;
    }
    const where = `${req.method} ${url.pathname}`;
    if (url.protocol !== 'https:') {
      reject(new TransportError(`${where}: Portainer is only spoken to over HTTPS`, 'protocol'));
      return;
    }
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(req.body.length);
    let settled = false;
    const fail = (err: TransportError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.destroy();
      reject(err);
    };
    const r = httpsRequest(
      url,
      { method: req.method, headers, agent: false, ca: req.ca, rejectUnauthorized: true },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(
              new TransportError(`${where}: response larger than ${MAX_RESPONSE_BYTES} bytes`, 'protocol'),
            );
          } else {
            chunks.push(chunk);
          }
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', (err: NodeJS.ErrnoException) => fail(classify(err, where)));
      },
    );
    const timer = setTimeout(
      () => fail(new TransportError(`${where}: no answer within ${req.timeoutMs} ms`, 'timeout')),
      req.timeoutMs,
    );
    r.on('error', (err: NodeJS.ErrnoException) => fail(classify(err, where)));
    r.end(req.body);
  });

function classify(err: NodeJS.ErrnoException, where: string): TransportError {
  const code = err.code;
  if (isTlsErrorCode(code)) {
    return new TransportError(`${where}: TLS verification failed (${code})`, 'tls', code);
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new TransportError(`${where}: cannot connect (${code})`, 'unreachable', code);
  }
  return new TransportError(`${where}: ${code ?? 'connection failed'}`, 'protocol', code);
}
