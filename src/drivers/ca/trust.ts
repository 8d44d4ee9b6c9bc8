import { X509Certificate, createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';

/**
 * HTTPS to a private CA whose root is pinned per request (node:https with `ca`): Node 20's global fetch
 * cannot take a per-request CA without importing undici, which Node does not expose. Errors are classified
 * (unreachable / timeout / TLS / protocol) so drivers can say what went wrong instead of a bare TypeError.
 */

/** Verify the server against this root (PEM) — or, for the one root-bootstrap request only, do not verify. */
export type TlsTrust = { readonly ca: string } | { readonly insecureBootstrap: true };

export interface HttpsRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  /** JSON text; sent with content-type application/json. */
  readonly body?: string;
  readonly trust: TlsTrust;
  readonly timeoutMs: number;
}

export interface HttpsResponse {
  readonly status: number;
  readonly body: string;
}

export type HttpsTransport = (request: HttpsRequest) => Promise<HttpsResponse>;

export type TransportFailure = 'unreachable' | 'timeout' | 'tls' | 'protocol';

export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: TransportFailure,
    /** The Node/OpenSSL error code, when there was one (ECONNREFUSED, SELF_SIGNED_CERT_IN_CHAIN, ...). */
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
]);

/** OpenSSL verification codes (CERT_*, *_SELF_SIGNED_*, UNABLE_TO_*), and Node's ERR_TLS_* / ERR_SSL_*. */
export function isTlsErrorCode(code: string | undefined): boolean {
  if (code === undefined) return false;
  return /^(ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO_|SIGNATURE|HOSTNAME_MISMATCH|IP_ADDRESS_MISMATCH/.test(
    code,
  );
}

/**
 * The default transport. Requests to one pinned CA share a keep-alive pool for the life of the process (one
 * run): issuing fifty certificates should not cost fifty TLS handshakes on each side. The unverified root
 * bootstrap never shares a connection.
 */
export const httpsTransport: HttpsTransport = (req) => {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return Promise.reject(new TransportError(`invalid URL ${req.url}`, 'protocol'));
  }
  if (url.protocol !== 'https:') {
    return Promise.reject(
      new TransportError(
        `refusing ${url.protocol} URL ${req.url}: a CA is only spoken to over TLS`,
        'protocol',
      ),
    );
  }
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'phoenix' };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  return httpsExchange(url, {
    method: req.method,
    headers,
    ...(req.body !== undefined ? { body: Buffer.from(req.body) } : {}),
    tls: 'ca' in req.trust ? { ca: req.trust.ca, rejectUnauthorized: true } : { rejectUnauthorized: false },
    ...('ca' in req.trust ? { agent: pooled(req.trust.ca) } : {}),
    timeoutMs: req.timeoutMs,
    where: `${req.method} ${req.url}`,
    maxBytes: MAX_RESPONSE_BYTES,
  });
};

const pools = new Map<string, Agent>();

/** One pool per pinned CA; idle sockets do not keep the process alive. */
function pooled(ca: string): Agent {
  let agent = pools.get(ca);
  if (!agent) pools.set(ca, (agent = new Agent({ keepAlive: true, maxSockets: 16, ca })));
  return agent;
}

export interface HttpsExchange {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly tls: { readonly ca?: string; readonly rejectUnauthorized: boolean; readonly servername?: string };
  /** A keep-alive pool; without one, a connection per request. */
  readonly agent?: Agent;
  readonly timeoutMs: number;
  /** How errors name the request: never with headers or bodies, which carry tokens. */
  readonly where: string;
  readonly maxBytes: number;
}

/** One HTTPS request/response with a deadline, a size limit and classified failures. */
export function httpsExchange(
  url: URL,
  x: HttpsExchange,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...x.headers };
    if (x.body !== undefined) headers['content-length'] = String(x.body.length);
    let settled = false;
    const fail = (err: TransportError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.destroy();
      reject(err);
    };
    const r = httpsRequest(url, { method: x.method, headers, agent: x.agent ?? false, ...x.tls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > x.maxBytes) {
          fail(new TransportError(`${x.where}: response larger than ${x.maxBytes} bytes`, 'protocol'));
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
      res.on('error', (err: NodeJS.ErrnoException) => fail(classify(err, x.where)));
    });
    const timer = setTimeout(
      () => fail(new TransportError(`${x.where}: no answer within ${x.timeoutMs} ms`, 'timeout')),
      x.timeoutMs,
    );
    r.on('error', (err: NodeJS.ErrnoException) => fail(classify(err, x.where)));
    r.end(x.body);
  });
}

function classify(err: NodeJS.ErrnoException, where: string): TransportError {
  const code = err.code;
  if (isTlsErrorCode(code)) {
    return new TransportError(`${where}: TLS verification failed: ${err.message} (${code})`, 'tls', code);
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new TransportError(`${where}: cannot connect (${code})`, 'unreachable', code);
  }
  return new TransportError(`${where}: ${err.message}${code ? ` (${code})` : ''}`, 'protocol', code);
}

/** SHA-256 of the DER of the first certificate in the PEM, lower-case hex: step-ca's root fingerprint. */
export function certificateFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** "AB:CD:..." or "abcd..." → "abcd...". Returns undefined unless it is 64 hex digits. */
export function normaliseFingerprint(text: string): string | undefined {
  const hex = text.replace(/[:\s-]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}
