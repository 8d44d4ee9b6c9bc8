import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { DriverError } from '../errors.js';
import { ISSUER_MUTATIONS } from '../ca/types.js';
import type { IssueOptions, IssueRequest, Issued, IssuerDriver } from '../ca/types.js';
import { validateHttp01 } from './http01.js';
import { importKeyPair, loadX509 } from '../../certs/x509.js';
import type { X509Module } from '../../certs/x509.js';
import { CallRecorder } from './calls.js';
import type { MemoryDriverOptions } from './calls.js';
import type { MemoryWorld } from './world.js';

/**
 * A real CA in process: an ECDSA P-256 root (created on first use, kept in the world so that a persisted
 * world keeps trusting what it issued) signs leaves from CSRs like step-ca does: the CSR's signature must
 * verify, the SANs it carries must be the requested ones, and the lifetime is the requested one.
 */

const DEFAULT_LIFETIME_SECONDS = 24 * 60 * 60;
const ROOT_LIFETIME_MS = 10 * 365 * 24 * 60 * 60 * 1000;
/** Backdating absorbs clock skew between the CA and the verifiers. */
const BACKDATE_MS = 60 * 1000;
const SAN_OID = '2.5.29.17';
const EKU = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' } as const;

interface Root {
  readonly certPem: string;
  readonly signingKey: webcrypto.CryptoKey;
}

export interface MemoryIssuerOptions extends MemoryDriverOptions {
  readonly name?: string;
  /** Validity clock; defaults to the world's. */
  readonly now?: () => Date;
}

export class MemoryIssuer implements IssuerDriver {
  readonly name: string;
  /** Certificates signed so far. */
  issued = 0;
  private readonly recorder: CallRecorder;
  private readonly now: () => Date;
  private root: Promise<Root> | undefined;

  constructor(
    readonly world?: MemoryWorld,
    options: MemoryIssuerOptions = {},
  ) {
    this.name = options.name ?? 'memory';
    this.now = options.now ?? world?.now ?? (() => new Date());
    this.recorder = new CallRecorder([...ISSUER_MUTATIONS], options);
  }

  get calls(): ReadonlyMap<string, number> {
    return this.recorder.calls;
  }
  get mutations(): number {
    return this.recorder.mutations;
  }
  get faults() {
    return this.recorder.faults;
  }

  async roots(): Promise<string> {
    await this.recorder.enter('roots', []);
    return (await this.loadRoot()).certPem;
  }

  async issue(request: IssueRequest, options: IssueOptions = {}): Promise<Issued> {
    await this.recorder.enter('issue', [request]);
    // Given a responder, it behaves as an ACME CA: every name is validated over http-01 first.
    if (options.http01 && this.world) await validateHttp01(this.world, request.dnsNames, options.http01);
    const lifetime = request.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS;
    if (!Number.isInteger(lifetime) || lifetime <= 0) {
      throw new DriverError(`invalid certificate lifetime ${lifetime} s: must be a positive whole number`);
    }
    const x509 = await loadX509();
    let csr;
    try {
      csr = new x509.Pkcs10CertificateRequest(request.csrPem);
    } catch (err) {
      throw new DriverError(`invalid certificate request: ${(err as Error).message}`);
    }
    if (!(await csr.verify())) {
      throw new DriverError('invalid certificate request: signature does not verify');
    }
    checkRequestedNames(x509, csr.getExtension(SAN_OID), request);

    const root = await this.loadRoot();
    const rootCert = new x509.X509Certificate(root.certPem);
    const now = this.now().getTime();
    const isRsa = csr.publicKey.algorithm.name.startsWith('RSA');
    const names = [
      ...request.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...request.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ];
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ CN: [request.commonName] }],
      issuer: rootCert.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + lifetime * 1000),
      publicKey: csr.publicKey,
      signingKey: root.signingKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0),
          true,
        ),
        new x509.ExtendedKeyUsageExtension([EKU[request.usage]]),
        // RFC 5280: a SAN extension, when present, must not be empty.
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootCert.publicKey),
      ],
    });
    this.issued += 1;
    return { certPem: `${leaf.toString('pem')}\n`, chainPem: root.certPem };
  }

  /** Once per issuer; a failed creation is forgotten so that the next call tries again. */
  private loadRoot(): Promise<Root> {
    this.root ??= this.openOrCreateRoot().catch((err: unknown) => {
      this.root = undefined;
      throw err;
    });
    return this.root;
  }

  private async openOrCreateRoot(): Promise<Root> {
    const stored = this.world?.state.ca;
    if (stored) {
      const { keys } = await importKeyPair(stored.keyPem);
      return { certPem: stored.certPem, signingKey: keys.privateKey };
    }
    const x509 = await loadX509();
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    const now = this.now().getTime();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ CN: ['Phoenix Memory Root CA'] }, { O: ['Phoenix (in-memory emulator)'] }],
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + ROOT_LIFETIME_MS),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
      .export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const root = { keyPem, certPem: `${cert.toString('pem')}\n` };
    // Another issuer on the same world may have created one while this one was generating: keep theirs.
    if (this.world?.state.ca) return this.openOrCreateRoot();
    this.world?.mutate((state) => {
      state.ca = root;
    });
    return { certPem: root.certPem, signingKey: keys.privateKey };
  }
}

/** step-ca refuses a CSR whose SANs differ from what the token authorised; so does this CA. */
function checkRequestedNames(
  x509: X509Module,
  extension: { rawData: ArrayBuffer } | null,
  request: IssueRequest,
): void {
  if (!extension) return;
  const items = new x509.SubjectAlternativeNameExtension(extension.rawData).names.items;
  const inCsr = items.map((n) => `${n.type}:${n.value}`).sort();
  const requested = [
    ...request.dnsNames.map((d) => `dns:${d}`),
    ...request.ipAddresses.map((i) => `ip:${i}`),
  ].sort();
  if (inCsr.join('\n') !== requested.join('\n')) {
    throw new DriverError(
      `certificate request names [${inCsr.join(', ')}] differ from the requested [${requested.join(', ')}]`,
    );
  }
}

/** 16 random bytes; the top bit cleared keeps the DER integer positive without a padding byte. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
