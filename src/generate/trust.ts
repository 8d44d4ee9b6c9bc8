import { generatedHeader } from './topology.js';

/**
 * The internal CA root(s) as one PEM bundle for trust stores (update-ca-certificates, Traefik's rootCAs,
 * nginx's proxy_ssl_trusted_certificate). Normalised so that the same roots always give the same bytes:
 * LF line ends, base64 wrapped at 64 columns, duplicates dropped, one trailing newline. Anything that is
 * not a certificate is refused, above all a private key: a trust anchor is public by definition.
 */

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function trustAnchorFile(rootsPem: string): string {
  const text = rootsPem.replace(/\r\n?/g, '\n');
  const certs: string[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    if (m[1] !== 'CERTIFICATE')
      throw new Error(`a trust anchor holds certificates only, found a ${m[1]} block`);
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error('a certificate block is not valid base64');
    const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----`;
    if (!certs.includes(pem)) certs.push(pem);
  }
  if (certs.length === 0) throw new Error('no certificate found in the CA roots');
  if (/-----BEGIN /.test(text.replace(BLOCK_RE, '')))
    throw new Error('the CA roots contain an unterminated PEM block');
  return `${generatedHeader()}\n${certs.join('\n')}\n`;
}
