import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { PveTransportError } from './errors.js';
import type { PveTransportFailure } from './errors.js';

/**
 * HTTPS to one Proxmox node with its certificate pinned. The TLS connection is made and checked first
 * (`node:tls`), and only then is the HTTP request written to it, so not one byte of a request (and never
 * the token) reaches a server that failed the check:
 *
 * - `{ caPem }`: ordinary verification against the node's CA (Proxmox's `pve-root-ca.pem`), host name or
 *   IP address included.
 * - `{ fingerprint }`: the SHA-256 fingerprint of the node's own certificate (`pvenode cert info`, or the
 *   `ssl_fingerprint` of `GET /nodes`). Proxmox nodes serve a certificate from their cluster CA that no
 *   system store knows, so for this mode the chain is not judged by OpenSSL; instead the presented
 *   certificate must be exactly the pinned one — a stricter check than a CA, as Proxmox's own clients do.
 *   A mismatch is an error naming both fingerprints.
 * - Both: the CA must verify the chain and the certificate must match the fingerprint.
 */

export type PveTrust =
  | { readonly caPem: string; readonly fingerprint?: string }
  | { readonly caPem?: undefined; readonly fingerprint: string };

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface PveHttpRequest {
  readonly method: HttpMethod;
  readonly host: string;
  readonly port: number;
  /** Absolute path with the query string, e.g. "/api2/json/cluster/resources?type=vm". */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Form-encoded body (writes). */
  readonly body?: string;
  readonly trust: PveTrust;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface PveHttpResponse {
  readonly status: number;
  /** The HTTP reason phrase: Proxmox puts its error message there. */
  readonly reason: string;
  readonly body: string;
  readonly headers: IncomingHttpHeaders;
}

export type PveTransport = (request: PveHttpRequest) => Promise<PveHttpResponse>;

const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** Errors that say the TCP connection never opened: the request was certainly not processed. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** "AB:CD:..." / "abcd..." → "AB:CD:..." (Proxmox's display form), or undefined unless 32 bytes of hex. */
export function normaliseSha256Fingerprint(text: string): string | undefined {
  const hex = text.replace(/[:\s-]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

export const pveHttpsTransport: PveTransport = (req) =>
  new Promise<PveHttpResponse>((resolve, reject) => {
    const where = `${req.method} ${req.path.split('?')[0]}`;
    const pinned =
      req.trust.fingerprint !== undefined ? normaliseSha256Fingerprint(req.trust.fingerprint) : undefined;
    if (req.trust.fingerprint !== undefined && pinned === undefined) {
      reject(
        new PveTransportError(`${where}: the pinned fingerprint is not a SHA-256 fingerprint`, 'tls', false),
      );
      return;
    }
    if (req.trust.caPem === undefined && pinned === undefined) {
      reject(
        new PveTransportError(
          `${where}: neither a CA nor a fingerprint to verify the node with`,
          'tls',
          false,
        ),
      );
      return;
    }
    /** Set once the TLS session is verified: failures before it are safe to retry for every method. */
    let connected = false;
    let settled = false;
    const conn: { socket?: TLSSocket } = {};
    const idempotent = req.method === 'GET';
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      conn.socket?.destroy();
      reject(err);
    };
    const failWith = (kind: PveTransportFailure, message: string, code?: string) =>
      fail(
        new PveTransportError(
          `${where}: ${message}`,
          kind,
          kind === 'unreachable' || ((kind === 'reset' || kind === 'timeout') && (!connected || idempotent)),
          code,
        ),
      );
    const onError = (err: NodeJS.ErrnoException) => {
      const code = err.code;
      if (code !== undefined && NOT_CONNECTED.has(code))
        return failWith('unreachable', `cannot connect to ${req.host}:${req.port} (${code})`, code);
      if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT')
        return failWith('reset', `connection lost (${code})`, code);
      if (!connected)
        return failWith(
          'tls',
          `TLS verification of ${req.host}:${req.port} failed: ${err.message}${code ? ` (${code})` : ''}`,
          code,
        );
      return failWith('protocol', `${err.message}${code ? ` (${code})` : ''}`, code);
    };
    // An abort surfaces as the signal's reason (an AbortError), like Node's own APIs and the waits.
    const onAbort = () => {
      const reason: unknown = req.signal?.reason;
      fail(reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError'));
    };
    const timer = setTimeout(
      () => failWith('timeout', `no answer from ${req.host}:${req.port} within ${req.timeoutMs} ms`),
      req.timeoutMs,
    );
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });

    const socket = tlsConnect({
      host: req.host,
      port: req.port,
      ...(isIP(req.host) === 0 ? { servername: req.host } : {}),
      ...(req.trust.caPem !== undefined
        ? { ca: req.trust.caPem, rejectUnauthorized: true }
        : // Fingerprint-only: the exact certificate is checked below, before anything is written.
          { rejectUnauthorized: false }),
    });
    conn.socket = socket;
    socket.on('error', onError);
    socket.once('secureConnect', () => {
      const tls = socket;
      if (req.trust.caPem !== undefined && !tls.authorized) {
        return failWith(
          'tls',
          `TLS verification of ${req.host}:${req.port} failed: ${String(tls.authorizationError)}`,
        );
      }
      if (pinned !== undefined) {
        const presented = tls.getPeerCertificate().fingerprint256;
        if (!presented || presented.toUpperCase() !== pinned) {
          return failWith(
            'fingerprint',
            `certificate fingerprint mismatch for ${req.host}:${req.port}: the node presented SHA-256 ${presented || '(no certificate)'}, expected ${pinned}`,
          );
        }
      }
      connected = true;
      const headers: Record<string, string> = {
        ...req.headers,
        host: `${req.host}:${req.port}`,
        connection: 'close',
      };
      if (req.body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers['content-length'] = String(Buffer.byteLength(req.body));
      }
      const http = httpRequest(
        // No agent: with createConnection and no agent, Node writes to this (verified) socket.
        { method: req.method, path: req.path, headers, createConnection: () => tls },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES)
              failWith('protocol', `response larger than ${MAX_RESPONSE_BYTES} bytes`);
            else chunks.push(chunk);
          });
          res.on('error', onError);
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            req.signal?.removeEventListener('abort', onAbort);
            tls.destroy();
            resolve({
              status: res.statusCode ?? 0,
              reason: res.statusMessage ?? '',
              body: Buffer.concat(chunks).toString('utf8'),
              headers: res.headers,
            });
          });
        },
      );
      http.on('error', onError);
      http.end(req.body);
    });
  });
