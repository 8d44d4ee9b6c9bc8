import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { CompactEncrypt, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { loadX509 } from '../../certs/x509.js';

/**
 * The CA material `step ca init` would make, made in process (no step CLI exists on Debian): an ECDSA
 * P-256 root and intermediate, and the JWK provisioner key pair with its private half encrypted under the
 * provisioner password exactly as step does it (compact JWE, PBES2-HS256+A128KW with 100 000 iterations
 * and a 16-byte salt, A256GCM, cty jwk+json).
 */

export interface CaKeyPair {
  readonly certPem: string;
  /** PKCS#8 PEM, unencrypted. */
  readonly keyPem: string;
}

export interface CaPki {
  readonly root: CaKeyPair;
  readonly intermediate: CaKeyPair;
}

export interface PkiNames {
  readonly rootCommonName: string;
  readonly intermediateCommonName: string;
  readonly organization?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const ROOT_DAYS = 3650;
const INTERMEDIATE_DAYS = 1825;
/** Absorbs clock skew between this machine and the verifiers. */
const BACKDATE_MS = 5 * 60 * 1000;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** step's parameters (go.step.sm/crypto/jose: PBKDF2Iterations, PBKDF2SaltSize, DefaultEncAlgorithm). */
export const STEP_PBES2_COUNT = 100_000;
const STEP_PBES2_SALT_BYTES = 16;

export async function createCaPki(names: PkiNames): Promise<CaPki> {
  const x509 = await loadX509();
  const now = Date.now();
  const organization = names.organization ? [{ O: [names.organization] }] : [];

  const rootKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [names.rootCommonName] }, ...organization],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_DAYS * DAY_MS),
    keys: rootKeys,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });

  const intermediateKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [names.intermediateCommonName] }, ...organization],
    issuer: root.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + INTERMEDIATE_DAYS * DAY_MS),
    publicKey: intermediateKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });

  return {
    root: { certPem: `${root.toString('pem')}\n`, keyPem: await pkcs8Pem(rootKeys.privateKey) },
    intermediate: {
      certPem: `${intermediate.toString('pem')}\n`,
      keyPem: await pkcs8Pem(intermediateKeys.privateKey),
    },
  };
}

export interface ProvisionerKey {
  /** The public JWK as ca.json carries it (use sig, alg ES256, kid = RFC 7638 SHA-256 thumbprint). */
  readonly publicJwk: JWK & { kid: string };
  /** The private JWK as a compact JWE under the password: the provisioner's "encryptedKey". */
  readonly encryptedKey: string;
}

/** `step ca provisioner add NAME --type JWK --create`, without the step CLI. */
export async function createProvisionerKey(password: string): Promise<ProvisionerKey> {
  if (password.length === 0) throw new Error('the provisioner password must not be empty');
  const { publicKey, privateKey } = await generateKeyPair('ES256', { crv: 'P-256', extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  const publicJwk = { use: 'sig', kty: 'EC', kid, crv: 'P-256', alg: 'ES256', x: pub.x, y: pub.y };
  const priv = await exportJWK(privateKey);
  const privateJwk = { ...publicJwk, d: priv.d };
  const encryptedKey = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
    .setProtectedHeader({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', cty: 'jwk+json' })
    .setKeyManagementParameters({ p2c: STEP_PBES2_COUNT, p2s: randomBytes(STEP_PBES2_SALT_BYTES) })
    .encrypt(new TextEncoder().encode(password));
  return { publicJwk, encryptedKey };
}

export async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/** 16 random bytes; the top bit cleared keeps the DER integer positive without a padding byte. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
