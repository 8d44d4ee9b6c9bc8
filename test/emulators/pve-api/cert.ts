import { X509Certificate, createHash, randomBytes, webcrypto } from 'node:crypto';
import { loadX509 } from '../../../src/certs/x509.js';
import { pkcs8Pem } from '../../../src/lab/step-ca/pki.js';

/**
 * TLS material for one emulated node, made fresh per test run, shaped like a Proxmox node's: a cluster
 * root ("pve-root-ca.pem") and the node certificate ("pve-ssl.pem") it signed, for 127.0.0.1.
 */
export interface NodeTls {
  readonly rootPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** SHA-256 of the node certificate's DER, "AB:CD:..." as `pvenode cert info` shows it. */
  readonly fingerprint: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const serial = () => `01${randomBytes(15).toString('hex')}`;

export async function createNodeTls(commonName = 'pve.emulated'): Promise<NodeTls> {
  const x509 = await loadX509();
  const now = Date.now();
  const rootKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: ['Proxmox Virtual Environment (emulated)'] }, { O: ['PVE Cluster Manager CA'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys: rootKeys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const leafKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [commonName] }],
    issuer: root.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    publicKey: leafKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const certPem = `${leaf.toString('pem')}\n`;
  const der = new X509Certificate(certPem).raw;
  const fingerprint = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
  return {
    rootPem: `${root.toString('pem')}\n`,
    certPem,
    keyPem: await pkcs8Pem(leafKeys.privateKey),
    fingerprint,
  };
}
