import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import type { Authorization, Client } from 'acme-client';
import { loadX509, splitPemChain } from '../../certs/x509.js';
import { DriverError } from '../errors.js';
import { loadOrCreateAccountKey } from './acme-account.js';
import { acmeHttp, fetchAcmeDirectory, tlsReason } from './acme-directory.js';
import type { AcmeDirectory, AcmeHttp } from './acme-directory.js';
import { ariCertId, fetchRenewalInfo } from './ari.js';
import { isTlsErrorCode } from './trust.js';
import type { HttpsTransport } from './trust.js';
import type {
  Http01Responder,
  IssueOptions,
  IssueRequest,
  Issued,
  IssuerDriver,
  RenewalInfo,
} from './types.js';

/**
 * An ACME issuer (RFC 8555, http-01 only) on acme-client 5.4, with ACME Renewal Information (RFC 9773):
 *
 * 1. Phoenix GETs the directory itself with the configured trust (acme-client would turn a TLS failure into
 *    a misleading TypeError), so an unreachable CA or an untrusted listener is named with its URL;
 * 2. the account is found or created with the stored account key (agreeing to the CA's terms, as
 *    `certbot --agree-tos` does: choosing the CA in the configuration is the agreement);
 * 3. an order for the request's DNS names and IP addresses (`replaces` when the CA offers ARI), each
 *    authorization answered through the caller's http-01 responder, whose tokens are always cleaned up;
 * 4. finalize with the caller's CSR (the private key never leaves the caller), download, and check that the
 *    leaf carries the CSR's key and the chain leads to one of the issuer's roots.
 *
 * acme-client is loaded on first use: it pulls in axios, forge and an ASN.1 stack, which the CLI's start-up
 * must not pay for. Its axios instance is shared by the whole process, so the trust (an https.Agent with
 * `ca`), the timeout and `proxy: false` are added to each request of this issuer's client only.
 *
 * `request.lifetimeSeconds` is not sent: the CA decides the lifetime (Let's Encrypt rejects orders with
 * notAfter). The EAB HMAC key is a secret: kept in a private field, never in a message.
 */

export interface AcmeIssuerOptions {
  /** The directory URL (https). */
  readonly directoryUrl: string;
  /** Driver name, as the engine reports it; default "ACME <directoryUrl>". */
  readonly name?: string;
  /** Account contact (mailto:). */
  readonly email?: string;
  /** External account binding (RFC 8555 §7.3.4); `hmacKey` (base64url) is a secret. */
  readonly eab?: { readonly kid: string; readonly hmacKey: string };
  /** PEM of the root(s) that verify the directory's TLS listener; default Node's bundled public roots. */
  readonly trustPem?: string;
  /** The account key file (PKCS#8 PEM, 0600): created with a new ECDSA P-256 key when missing. */
  readonly accountKeyFile: string;
  /** The root(s) that verify what this CA issues (PEM): `roots()` and the end of `chainPem`. */
  readonly rootsPem: () => Promise<string>;
  /** Per HTTP request; default 15 s. */
  readonly timeoutMs?: number;
  /** First delay between polls of a pending challenge or order (doubling up to 5 s); default 50 ms. */
  readonly pollMs?: number;
  /** Replaces node:https for the directory and ARI requests (tests); it must honour `trust`. */
  readonly transport?: HttpsTransport;
}

/** The part of acme-client that Phoenix uses. */
type AcmeModule = { readonly Client: typeof Client };
type Identifier = { type: 'dns' | 'ip'; value: string };

const POLL_MAX_MS = 5_000;
const POLL_ATTEMPTS = 12;

export class AcmeIssuer implements IssuerDriver {
  readonly name: string;
  private readonly directoryUrl: string;
  private readonly email: string | undefined;
  private readonly eabKid: string | undefined;
  readonly #eabHmacKey: string | undefined;
  private readonly accountKeyFile: string;
  private readonly rootsPem: () => Promise<string>;
  private readonly http: AcmeHttp;
  private readonly pollMs: number;
  private directory: Promise<AcmeDirectory> | undefined;
  private client: Promise<Client> | undefined;

  constructor(options: AcmeIssuerOptions) {
    let url: URL;
    try {
      url = new URL(options.directoryUrl);
    } catch {
      throw new DriverError(
        `ACME directory ${JSON.stringify(options.directoryUrl)} is not a URL`,
        false,
        'config',
      );
    }
    if (url.protocol !== 'https:') {
      throw new DriverError(
        `ACME directory ${options.directoryUrl} must be an https:// URL`,
        false,
        'config',
      );
    }
    const timeoutMs = options.timeoutMs ?? 15_000;
    if (!(timeoutMs > 0)) {
      throw new DriverError(`ACME timeoutMs must be positive, got ${timeoutMs}`, false, 'config');
    }
    this.directoryUrl = options.directoryUrl;
    this.name = options.name ?? `ACME ${options.directoryUrl}`;
    this.email = options.email;
    this.eabKid = options.eab?.kid;
    this.#eabHmacKey = options.eab?.hmacKey;
    this.accountKeyFile = options.accountKeyFile;
    this.rootsPem = options.rootsPem;
    this.http = acmeHttp(options.trustPem, timeoutMs, options.transport);
    this.pollMs = options.pollMs ?? 50;
  }

  roots(): Promise<string> {
    return this.rootsPem();
  }

  async issue(request: IssueRequest, options: IssueOptions = {}): Promise<Issued> {
    const responder = options.http01;
    if (responder === undefined) {
      throw new DriverError(
        `${this.name}: ACME issuance needs an http-01 responder (the gateway's webroot) and none was given`,
        false,
        'config',
      );
    }
    const identifiers = identifiersOf(request);
    const csrKey = await csrPublicKey(request.csrPem);
    const signal = options.signal;
    signal?.throwIfAborted();
    const directory = await (this.directory ?? this.freshDirectory());
    const roots = await this.issuerRoots();
    const client = await this.account(directory);
    signal?.throwIfAborted();
    const replaces =
      options.replaces !== undefined && directory.renewalInfo !== undefined
        ? await ariCertId(options.replaces).catch(() => undefined)
        : undefined;
    const order = await this.newOrder(client, identifiers, replaces);

    const presented: string[] = [];
    try {
      const authorizations = await this.step('read the authorizations', () =>
        client.getAuthorizations(order),
      );
      for (const authz of authorizations) {
        signal?.throwIfAborted();
        await this.authorize(client, authz, responder, presented);
      }
      signal?.throwIfAborted();
      const finalized = await this.step('finalize the order', () =>
        client.finalizeOrder(order, request.csrPem),
      );
      const pem = await this.step('download the certificate', () => client.getCertificate(finalized));
      return this.assemble(pem, roots, csrKey);
    } finally {
      // Failures are not reported: a stale token is public and harmless, the issuance's own error matters.
      await Promise.allSettled(presented.map((token) => responder.cleanup(token)));
    }
  }

  async renewalInfo(certPem: string): Promise<RenewalInfo | undefined> {
    const directory = await (this.directory ?? this.freshDirectory());
    if (directory.renewalInfo === undefined) return undefined;
    return fetchRenewalInfo(this.http, directory.renewalInfo, certPem);
  }

  /** Read once per issuer (one run), checked with Phoenix's own TLS first; a failure is asked again next time. */
  private freshDirectory(): Promise<AcmeDirectory> {
    const fetched = fetchAcmeDirectory(this.http, this.directoryUrl);
    this.directory = fetched;
    // A failure is not kept: the next call asks again.
    fetched.catch(() => {
      if (this.directory === fetched) this.directory = undefined;
    });
    return fetched;
  }

  private async issuerRoots(): Promise<X509Certificate[]> {
    let pem: string;
    try {
      pem = await this.rootsPem();
    } catch (err) {
      throw new DriverError(
        `${this.name}: cannot read the issuer's root certificates: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    try {
      return splitPemChain(pem).map((p) => new X509Certificate(p));
    } catch {
      throw new DriverError(`${this.name}: the issuer's root certificates are not valid PEM certificates`);
    }
  }

  /** The client with its account, made once per issuer; a failure is forgotten so the next call retries. */
  private account(directory: AcmeDirectory): Promise<Client> {
    this.client ??= this.register(directory).catch((err: unknown) => {
      this.client = undefined;
      throw err;
    });
    return this.client;
  }

  private async register(directory: AcmeDirectory): Promise<Client> {
    const eab =
      this.eabKid !== undefined && this.#eabHmacKey !== undefined
        ? { kid: this.eabKid, hmacKey: this.#eabHmacKey }
        : undefined;
    if (directory.meta?.externalAccountRequired === true && eab === undefined) {
      throw new DriverError(
        `ACME CA ${this.directoryUrl} requires external account binding and no eab (kid, hmac_key) is configured`,
        false,
        'config',
      );
    }
    const accountKey = await loadOrCreateAccountKey(this.accountKeyFile);
    const acme = await loadAcmeClient();
    const client = new acme.Client({
      directoryUrl: this.directoryUrl,
      accountKey,
      ...(eab ? { externalAccountBinding: eab } : {}),
      backoffAttempts: POLL_ATTEMPTS,
      backoffMin: this.pollMs,
      backoffMax: Math.max(this.pollMs, POLL_MAX_MS),
    });
    pinRequests(client, {
      // One pool per issuer, for one run: a dozen requests per certificate need not each pay a handshake.
      httpsAgent: new Agent({ ca: this.http.trustPem, keepAlive: true, maxSockets: 16 }),
      proxy: false,
      timeout: this.http.timeoutMs,
    });
    await this.step('create or find the account', () =>
      client.createAccount({
        termsOfServiceAgreed: true,
        ...(this.email ? { contact: [`mailto:${this.email}`] } : {}),
      }),
    );
    return client;
  }

  private async newOrder(client: Client, identifiers: Identifier[], replaces: string | undefined) {
    const create = (payload: { identifiers: Identifier[]; replaces?: string }) =>
      this.step('create the order', () => client.createOrder(payload));
    if (replaces === undefined) return create({ identifiers });
    try {
      return await create({ identifiers, replaces });
    } catch (err) {
      // RFC 9773 §5: a CA may refuse `replaces` (already replaced, unknown); the order itself still stands.
      if (!(err instanceof DriverError && err.code === 'ca-rejected')) throw err;
      return create({ identifiers });
    }
  }

  private async authorize(
    client: Client,
    authz: Authorization,
    responder: Http01Responder,
    presented: string[],
  ): Promise<void> {
    const name = `${authz.identifier.type === 'ip' ? 'IP ' : ''}${authz.identifier.value}`;
    if (authz.status === 'valid') return;
    if (authz.status !== 'pending') {
      throw new DriverError(`ACME CA ${this.directoryUrl}: authorization of ${name} is ${authz.status}`);
    }
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (challenge === undefined) {
      throw new DriverError(
        `ACME CA ${this.directoryUrl} offers no http-01 challenge for ${name} (only ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`,
        false,
        'ca-rejected',
      );
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    presented.push(challenge.token);
    try {
      await responder.present(challenge.token, keyAuthorization);
    } catch (err) {
      throw new DriverError(
        `cannot present the http-01 answer for ${name}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    await this.step(`start http-01 validation of ${name}`, () => client.completeChallenge(challenge));
    await this.step(`validate ${name} over http-01`, () => client.waitForValidStatus(challenge));
  }

  /** Leaf + intermediates for certPem; intermediates + the issuer's root for chainPem. */
  private assemble(pem: string, roots: X509Certificate[], csrKey: Buffer): Issued {
    const what = `the certificate from ${this.directoryUrl}`;
    const pems = splitPemChain(pem);
    const certs = pems.map((p) => new X509Certificate(p));
    const leaf = certs[0];
    if (leaf === undefined) throw new DriverError(`${what} is empty`, false, 'ca-protocol');
    if (!csrKey.equals(leaf.publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new DriverError(`${what} does not carry the public key of the request`, false, 'ca-protocol');
    }
    for (let i = 0; i + 1 < certs.length; i++) {
      if (!issuedBy(certs[i]!, certs[i + 1]!)) {
        throw new DriverError(
          `${what}: certificate ${i + 1} of the chain is not issued by the next`,
          false,
          'ca-protocol',
        );
      }
    }
    const top = certs[certs.length - 1]!;
    const selfSigned = certs.length > 1 && issuedBy(top, top);
    const served = selfSigned ? pems.slice(0, -1) : pems;
    const root = selfSigned
      ? roots.find((r) => r.fingerprint256 === top.fingerprint256)
      : roots.find((r) => issuedBy(top, r));
    if (root === undefined) {
      throw new DriverError(
        `${what} does not chain to the issuer's roots (it ends at "${(selfSigned ? top.subject : top.issuer).replace(/\n/g, ', ')}")`,
        false,
        'ca-root-mismatch',
      );
    }
    return {
      certPem: served.join(''),
      chainPem: served.slice(1).join('') + splitPemChain(root.toString())[0]!,
    };
  }

  /** One acme-client call; its failures become DriverErrors naming the step and the CA. */
  private async step<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  private failure(err: unknown, what: string): DriverError {
    if (err instanceof DriverError) return err;
    const where = `ACME CA ${this.directoryUrl}`;
    const code = (err as { code?: unknown }).code;
    const isAxios = (err as { isAxiosError?: unknown }).isAxiosError === true;
    if (isAxios && typeof code === 'string') {
      if (isTlsErrorCode(code)) {
        return new DriverError(
          `TLS verification failed to ${what} at ${where}: ${tlsReason(code)} (${code})`,
          false,
          'ca-tls',
        );
      }
      if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
        return new DriverError(
          `${where} did not answer within ${this.http.timeoutMs} ms (${what})`,
          true,
          'ca-timeout',
        );
      }
      if (/^E[A-Z]+$/.test(code)) {
        return new DriverError(
          `cannot reach ${where} to ${what}: the CA is unreachable (${code})`,
          true,
          'ca-unreachable',
        );
      }
    }
    const message = err instanceof Error ? err.message : String(err);
    return new DriverError(
      `${where} failed to ${what}: ${message || 'no reason given'}`,
      false,
      'ca-rejected',
    );
  }
}

let acmeModule: Promise<AcmeModule> | undefined;

function loadAcmeClient(): Promise<AcmeModule> {
  return (acmeModule ??= import('acme-client').then((m) => m.default));
}

interface AcmeHttpInternals {
  request(url: string, method: string, opts?: Record<string, unknown>): Promise<unknown>;
}

/**
 * acme-client 5.4 sends every request through `client.http.request(url, method, opts)` and hands `opts` to
 * its process-wide axios instance: adding the agent there scopes the trust to this client. The shape is
 * checked, so an upgrade that changes it fails loudly instead of talking with the wrong trust.
 */
function pinRequests(client: Client, extra: Record<string, unknown>): void {
  const http = (client as unknown as { http?: Partial<AcmeHttpInternals> }).http;
  if (http === undefined || typeof http.request !== 'function') {
    throw new DriverError('acme-client has no per-client HTTP layer (Phoenix expects acme-client 5.4)');
  }
  const send = http.request.bind(http);
  http.request = (url, method, opts = {}) => send(url, method, { ...opts, ...extra });
}

/** DNS names then IP addresses, without duplicates; the common name must be one of them. */
function identifiersOf(request: IssueRequest): Identifier[] {
  const identifiers: Identifier[] = [
    ...[...new Set(request.dnsNames)].map((value) => ({ type: 'dns' as const, value })),
    ...[...new Set(request.ipAddresses)].map((value) => ({ type: 'ip' as const, value })),
  ];
  if (identifiers.length === 0) {
    throw new DriverError('an ACME order needs at least one DNS name or IP address', false, 'config');
  }
  if (request.commonName !== '' && !identifiers.some((i) => i.value === request.commonName)) {
    throw new DriverError(
      `ACME certifies only validated names: the common name "${request.commonName}" is none of the DNS names or IP addresses`,
      false,
      'config',
    );
  }
  return identifiers;
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** The CSR's SubjectPublicKeyInfo (DER): the issued leaf must carry exactly this key. */
async function csrPublicKey(csrPem: string): Promise<Buffer> {
  const x509 = await loadX509();
  try {
    return Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
  } catch {
    throw new DriverError('the certificate request is not a PEM PKCS#10 CSR', false, 'config');
  }
}
