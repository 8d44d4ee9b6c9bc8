import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { normaliseSerial } from '../../certs/x509.js';
import { DriverError } from '../errors.js';
import type { ServedCertificate } from './types.js';

const HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * One TLS handshake to `address:port` with SNI `serverName`; returns the leaf presented. Verification is
 * the caller's: it compares the serial with the certificate it installed, which is stricter than a chain check.
 */
export function servedCertificateAt(
  address: string,
  port: number,
  serverName: string,
  signal?: AbortSignal,
): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const where = `${serverName} at ${address}:${port}`;
    const socket = connect({ host: address, port, servername: serverName, rejectUnauthorized: false });
    const fail = (why: string) => {
      socket.destroy();
      reject(new DriverError(`no certificate served for ${where}: ${why}`));
    };
    const onAbort = () => fail('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => fail(`no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`));
    socket.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    socket.once('secureConnect', () => {
      signal?.removeEventListener('abort', onAbort);
      const peer = socket.getPeerCertificate();
      socket.end();
      if (!peer?.raw) return reject(new DriverError(`no certificate served for ${where}`));
      const cert = new X509Certificate(peer.raw);
      resolve({ serial: normaliseSerial(cert.serialNumber), certPem: cert.toString() });
    });
  });
}
