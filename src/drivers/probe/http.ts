import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { DriverError } from '../errors.js';
import { ProbeError } from './errors.js';
import type { HttpProbeRequest, HttpProbeResponse, ProbeFailure } from './types.js';

const TIMEOUT_MS = 10_000;
const BODY_BYTES = 4096;

const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function failureOf(e: NodeJS.ErrnoException): ProbeFailure {
  const code = e.code ?? '';
  if (REFUSED.has(code)) return 'refused';
  if (/CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|IP_ADDRESS_MISMATCH/.test(code)) return 'untrusted';
  if (/^ERR_SSL_|^ERR_TLS_|EPROTO/.test(code) || /alert|handshake|SSL/i.test(e.message)) return 'handshake';
  return 'other';
}

/**
 * One GET to `address:port` with Host (and SNI) `serverName`. An https chain must verify against
 * `trustedRoots` for that name; there is no way to skip verification.
 */
export function httpGetAt(address: string, req: HttpProbeRequest): Promise<HttpProbeResponse> {
  const where = `${req.scheme}://${req.serverName}${req.path ?? '/'} at ${address}:${req.port}`;
  if (req.scheme === 'https' && !req.trustedRoots)
    return Promise.reject(new DriverError(`${where}: an https probe needs the roots to verify against`));
  return new Promise((resolve, reject) => {
    let settled = false;
    const options = {
      host: address,
      port: req.port,
      path: req.path ?? '/',
      method: 'GET',
      headers: { host: req.serverName, 'user-agent': 'phoenix-verify', connection: 'close' },
      agent: false as const,
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < BODY_BYTES) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => done(undefined, res, chunks));
      res.on('error', (e) => done(e as NodeJS.ErrnoException));
    };
    const r =
      req.scheme === 'https'
        ? httpsRequest(
            { ...options, servername: req.serverName, ca: req.trustedRoots, rejectUnauthorized: true },
            onResponse,
          )
        : httpRequest(options, onResponse);
    const timer = setTimeout(
      () => fail(new ProbeError(`${where}: no answer within ${TIMEOUT_MS} ms`, 'timeout')),
      TIMEOUT_MS,
    );
    const onAbort = () => fail(new ProbeError(`${where}: aborted`, 'other'));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    function fail(e: ProbeError) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      r.destroy();
      reject(e);
    }
    function done(err: NodeJS.ErrnoException | undefined, res?: IncomingMessage, chunks: Buffer[] = []) {
      if (err) {
        fail(new ProbeError(`${where}: ${err.code ?? err.message}`, failureOf(err)));
        return;
      }
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res!.headers)) {
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      }
      resolve({
        status: res!.statusCode ?? 0,
        headers,
        body: Buffer.concat(chunks).subarray(0, BODY_BYTES).toString('utf8'),
      });
    }
    r.on('error', (e: NodeJS.ErrnoException) => done(e));
    r.end();
  });
}
