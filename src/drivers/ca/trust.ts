import { X509Certificate, createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';

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

/** The default transport: one connection per request (no keep-alive pool to go stale between runs). */
export const httpsTransport: HttpsTransport = (req) =>
  new Promise<HttpsResponse>((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      reject(new TransportError(`invalid URL ${req.url}`, 'protocol'));
      return;
    }
    if (url.protocol !== 'https:') {
      reject(
        new TransportError(
          `refusing ${url.protocol} URL ${req.url}: a CA is only spoken to over TLS`,
          'protocol',
        ),
      );
      return;
    }
    const where = `${req.method} ${req.url}`;
    const tls =
      'ca' in req.trust ? { ca: req.trust.ca, rejectUnauthorized: true } : { rejectUnauthorized: false };
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'phoenix' };
    if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    let settled = false;
    const fail = (err: TransportError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.destroy();
      reject(err);
    };
    const r = httpsRequest(url, { method: req.method, headers, agent: false, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail(new TransportError(`${where}: response larger than ${MAX_RESPONSE_BYTES} bytes`, 'protocol'));
        } else {
          chunks.push(chunk);
        }
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err: NodeJS.ErrnoException) => fail(classify(err, where)));
    });
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
