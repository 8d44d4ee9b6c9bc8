import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { loadX509 } from '../../../src/certs/x509.js';

/**
 * The emulator's TLS material, made fresh for each run: a self-signed root (what Phoenix's internal CA is
 * to the real Portainer) and a leaf for 127.0.0.1 signed by it. Clients trust `rootPem` only.
 */

export interface EmulatorTls {
  readonly rootPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export async function makeEmulatorTls(host = '127.0.0.1'): Promise<EmulatorTls> {
  const x509 = await loadX509();
  const serial = () => `01${randomBytes(15).toString('hex')}`;
  const now = Date.now();
  const rootKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: ['Emulated Phoenix Internal Root'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + DAY_MS),
    keys: rootKeys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const leafKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: ['portainer.emulated'] }],
    issuer: root.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + DAY_MS),
    publicKey: leafKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: host }]),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const keyPem = createPrivateKey({
    key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return { rootPem: root.toString('pem'), certPem: leaf.toString('pem'), keyPem };
}
