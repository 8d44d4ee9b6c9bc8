import {
  X509Certificate as NodeX509,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  webcrypto,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import type { KeyType } from '../model/inventory.js';

/**
 * Small helpers over @peculiar/x509 (CSRs, structured parsing) and node:crypto (keys, pair checks).
 * @peculiar/x509 and its ASN.1 stack are loaded on first use only: most commands never touch
 * certificates and CLI start-up time matters.
 */

export type X509Module = typeof X509;
let x509Module: Promise<X509Module> | undefined;

/** The lazily loaded @peculiar/x509, wired to Node's WebCrypto (it has no default provider on Node). */
export function loadX509(): Promise<X509Module> {
  installReflectMetadata();
  return (x509Module ??= import('@peculiar/x509').then((m) => {
    m.cryptoProvider.set(webcrypto as unknown as Parameters<typeof m.cryptoProvider.set>[0]);
    return m;
  }));
}

/**
 * @peculiar/x509 registers its algorithms with tsyringe, which refuses to load without the Reflect metadata
 * API (normally the reflect-metadata package, not a dependency here). Its classes take no constructor
 * parameters, so a per-object map is all tsyringe needs (the rest of the API is there for reflect-metadata's sake). A real polyfill, when loaded first, is kept.
 */
function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<unknown, Map<unknown, unknown>>>();
  const table = (target: object, property: unknown) => {
    let byProperty = store.get(target);
    if (!byProperty) store.set(target, (byProperty = new Map()));
    let entries = byProperty.get(property);
    if (!entries) byProperty.set(property, (entries = new Map()));
    return entries;
  };
  const getOwn = (key: unknown, target: object, property?: unknown) =>
    store.get(target)?.get(property)?.get(key);
  const get = (key: unknown, target: object, property?: unknown): unknown => {
    for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const value = getOwn(key, o, property);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const api: Record<string, unknown> = {
    defineMetadata: (key: unknown, value: unknown, target: object, property?: unknown) =>
      void table(target, property).set(key, value),
    getOwnMetadata: getOwn,
    getMetadata: get,
    hasOwnMetadata: (key: unknown, target: object, property?: unknown) =>
      getOwn(key, target, property) !== undefined,
    hasMetadata: (key: unknown, target: object, property?: unknown) =>
      get(key, target, property) !== undefined,
    metadata: (key: unknown, value: unknown) => (target: object, property?: unknown) =>
      void table(target, property).set(key, value),
    // reflect-metadata 0.2 (loaded by acme-client's own x509) adopts an existing API as a fallback
    // provider and asks it for keys: the whole API, not just what tsyringe uses.
    getOwnMetadataKeys: (target: object, property?: unknown) => [
      ...(store.get(target)?.get(property)?.keys() ?? []),
    ],
    getMetadataKeys: (target: object, property?: unknown) => {
      const keys = new Set<unknown>();
      for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null)
        for (const k of store.get(o)?.get(property)?.keys() ?? []) keys.add(k);
      return [...keys];
    },
    deleteMetadata: (key: unknown, target: object, property?: unknown) =>
      store.get(target)?.get(property)?.delete(key) ?? false,
  };
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(Reflect, name, { value: fn, writable: true, configurable: true });
  }
}

export interface GeneratedKey {
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  readonly keyType: KeyType;
  /** DER SubjectPublicKeyInfo, base64: comparable with ParsedCertificate.publicKeySpki. */
  readonly publicKeySpki: string;
}

export interface CsrSubject {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export interface ParsedCertificate {
  /** Upper-case hex without leading zero bytes: the form Node's X509Certificate and openssl print. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly issuerDn: string;
  readonly subjectDn: string;
  /** DER SubjectPublicKeyInfo, base64. */
  readonly publicKeySpki: string;
  /** 'other' for keys Phoenix never generates (Ed25519, RSA sizes outside the list, ...). */
  readonly keyType: KeyType | 'other';
  readonly extendedKeyUsage: Array<'server' | 'client'>;
}

/** Generates off the main thread (RSA 4096 takes a while), as PKCS#8 PEM. */
export function generateKey(type: KeyType): Promise<GeneratedKey> {
  const encoding = {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: Buffer, privateKey: string) =>
      err
        ? reject(err)
        : resolve({ keyPem: privateKey, keyType: type, publicKeySpki: publicKey.toString('base64') });
    if (type === 'ecdsa-p256' || type === 'ecdsa-p384') {
      generateKeyPair('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384', ...encoding }, done);
    } else {
      generateKeyPair('rsa', { modulusLength: Number(type.slice('rsa-'.length)), ...encoding }, done);
    }
  });
}

/** The key type of a private or public key, in the inventory's vocabulary. */
export function keyTypeOf(key: KeyObject): KeyType | 'other' {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ecdsa-p256';
    if (details.namedCurve === 'secp384r1') return 'ecdsa-p384';
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
  }
  return 'other';
}

/** WebCrypto import and signing parameters for a key Phoenix generates. */
export function webCryptoParams(type: KeyType) {
  switch (type) {
    case 'ecdsa-p256':
      return {
        importAlg: { name: 'ECDSA', namedCurve: 'P-256' },
        signAlg: { name: 'ECDSA', hash: 'SHA-256' },
      };
    case 'ecdsa-p384':
      return {
        importAlg: { name: 'ECDSA', namedCurve: 'P-384' },
        signAlg: { name: 'ECDSA', hash: 'SHA-384' },
      };
    default: {
      const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      return { importAlg: alg, signAlg: alg };
    }
  }
}

/** The private key as a WebCrypto key pair, for @peculiar/x509's generators. */
export async function importKeyPair(
  keyPem: string,
): Promise<{ keys: webcrypto.CryptoKeyPair; type: KeyType }> {
  const privateKey = createPrivateKey(keyPem);
  const type = keyTypeOf(privateKey);
  if (type === 'other') {
    throw new Error('unsupported key type (expected ECDSA P-256/P-384 or RSA 2048/3072/4096)');
  }
  const { importAlg } = webCryptoParams(type);
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, importAlg, true, ['verify']),
  };
  return { keys, type };
}

/** A PKCS#10 request (PEM) for the names, signed with the key. */
export async function createCsr(keyPem: string, subject: CsrSubject): Promise<string> {
  const x509 = await loadX509();
  const { keys, type } = await importKeyPair(keyPem);
  const names = [
    ...subject.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...subject.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // The JSON form needs no DN escaping, whatever the common name contains.
    name: [{ CN: [subject.commonName] }],
    keys,
    signingAlgorithm: webCryptoParams(type).signAlg,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString('pem');
}

const EKU_NAMES: Readonly<Record<string, 'server' | 'client'>> = {
  '1.3.6.1.5.5.7.3.1': 'server',
  '1.3.6.1.5.5.7.3.2': 'client',
};

/**
 * Parses the first certificate of a PEM (a leaf followed by intermediates is fine). Node's native parser:
 * observing thousands of certificates must not cost seconds of JavaScript ASN.1 decoding.
 */
export async function parseCertificate(pem: string): Promise<ParsedCertificate> {
  const first = splitPemChain(pem)[0];
  if (first === undefined) throw new Error('no PEM certificate found');
  const cert = new NodeX509(first);
  const names = splitSubjectAltName(cert.subjectAltName ?? '');
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return {
    serial: normaliseSerial(cert.serialNumber),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    dnsNames: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    ipAddresses: names.filter((n) => n.startsWith('IP Address:')).map((n) => n.slice(11)),
    issuerDn: cert.issuer.split('\n').reverse().join(', '),
    subjectDn: cert.subject.split('\n').reverse().join(', '),
    publicKeySpki: spki.toString('base64'),
    keyType: keyTypeOf(cert.publicKey),
    extendedKeyUsage: (cert.keyUsage ?? []).flatMap((oid) => {
      const name = EKU_NAMES[oid];
      return name ? [name] : [];
    }),
  };
}

/** "DNS:a, DNS:b, IP Address:10.0.0.1" → entries; quoted entries (with commas inside) stay whole. */
function splitSubjectAltName(text: string): string[] {
  return (text.match(/(?:[^,"]+|"(?:[^"\\]|\\.)*")+/g) ?? []).map((s) => s.trim()).filter(Boolean);
}

/** Serial hex as Node and openssl show it, so it compares equal with what a live TLS endpoint serves. */
export function normaliseSerial(hex: string): string {
  const upper = hex.toUpperCase();
  const stripped = upper.replace(/^(00)+/, '');
  return stripped === '' ? '00' : stripped;
}

/**
 * True when the certificate (the first of a chain) carries the public half of the key. Unparsable input
 * is "does not belong together" (false); parseCertificate reports why a certificate is unreadable.
 */
export async function keyMatchesCert(keyPem: string, certPem: string): Promise<boolean> {
  const first = splitPemChain(certPem)[0];
  if (first === undefined) return false;
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = new NodeX509(first).publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, each normalised to end with one newline. */
export function splitPemChain(pem: string): string[] {
  return (pem.match(PEM_CERTIFICATE) ?? []).map((block) => `${block}\n`);
}

const MAX_CHAIN_DEPTH = 8;

/**
 * True when the leaf (first of `certPem`) chains, through the intermediates in `certPem` and `chainPem`,
 * to one of `rootsPem`: each link's issuer name matches and its signature verifies. Unparsable input is false.
 */
export function chainsTo(certPem: string, chainPem: string, rootsPem: string): boolean {
  try {
    const [leaf, ...rest] = [...splitPemChain(certPem), ...splitPemChain(chainPem)].map(
      (p) => new NodeX509(p),
    );
    const roots = splitPemChain(rootsPem).map((p) => new NodeX509(p));
    if (!leaf || roots.length === 0) return false;
    const signedBy = (child: NodeX509, parent: NodeX509) =>
      child.checkIssued(parent) && child.verify(parent.publicKey);
    let current = leaf;
    for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
      if (roots.some((r) => signedBy(current, r))) return true;
      const next = rest.find((i) => i !== current && signedBy(current, i));
      if (!next) return false;
      current = next;
    }
    return false;
  } catch {
    return false;
  }
}
