import { randomBytes } from 'node:crypto';
import { SignJWT, compactDecrypt, errors as joseErrors, importJWK } from 'jose';
import type { JWK } from 'jose';
import { DriverError } from '../errors.js';
import { splitPemChain } from '../../certs/x509.js';
import type { IssueRequest, Issued, IssuerDriver } from './types.js';
import { TransportError, certificateFingerprint, httpsTransport, normaliseFingerprint } from './trust.js';
import type { HttpsRequest, HttpsTransport, TlsTrust } from './trust.js';

/**
 * step-ca's JWK provisioner flow, as `step ca token` + `step ca certificate` do it:
 *
 * 1. bootstrap: `GET /root/<fingerprint>` WITHOUT TLS verification (the only such request), then refuse
 *    unless SHA-256(root DER) equals the configured fingerprint; every later request verifies TLS against
 *    that root;
 * 2. `GET /1.0/provisioners` → the JWK provisioner by name, its public key and `encryptedKey` (a compact
 *    JWE, PBES2-HS256+A128KW, holding the private JWK);
 * 3. decrypt with the provisioner password, sign a one-time token (ES256 JWS, 5 minutes);
 * 4. `POST /1.0/sign { csr, ott, notAfter }` → leaf + intermediates.
 *
 * The password is a secret: it is never logged, never part of an error message, never sent to the CA.
 * Errors are DriverErrors: unreachable/timeouts retryable (with the URL), TLS failures named as such,
 * 4xx not retryable with step-ca's own message.
 *
 * `request.usage` is not sent: step-ca's default X.509 template gives every JWK-provisioned leaf both
 * serverAuth and clientAuth; restricting it is a provisioner template matter on the CA side.
 */

export interface StepCaJwkIssuerOptions {
  /** The CA's base URL, https://host:port (the host must be one of the CA's dnsNames). */
  readonly url: string;
  /** Name of the JWK provisioner. */
  readonly provisioner: string;
  /** The provisioner password (secret). */
  readonly password: string;
  /** SHA-256 of the root certificate's DER, hex (colons allowed), as `step certificate fingerprint` prints. */
  readonly rootFingerprint: string;
  /** Per HTTP request. */
  readonly timeoutMs: number;
  /** Replaces the node:https transport (tests, tracing); it must honour `trust`. */
  readonly transport?: HttpsTransport;
  /** Driver name, as the engine reports it. */
  readonly name?: string;
}

/** One-time tokens live this long (step's default is 5 minutes as well). */
const TOKEN_LIFETIME_SECONDS = 5 * 60;
/** step encrypts with 100 000 PBKDF2 iterations (newer step CLIs with 600 000); refuse absurd counts. */
const MAX_PBES2_COUNT = 1_000_000;
const MAX_PROVISIONER_PAGES = 100;

interface SigningKey {
  readonly kid: string;
  readonly key: Awaited<ReturnType<typeof importJWK>>;
}

interface ProvisionerEntry {
  readonly type?: unknown;
  readonly name?: unknown;
  readonly key?: unknown;
  readonly encryptedKey?: unknown;
}

export class StepCaJwkIssuer implements IssuerDriver {
  readonly name: string;
  private readonly url: string;
  private readonly provisioner: string;
  /** An ES private field: not shown by util.inspect or JSON.stringify of the issuer. */
  readonly #password: string;
  private readonly fingerprint: string;
  private readonly timeoutMs: number;
  private readonly transport: HttpsTransport;
  private root: Promise<string> | undefined;
  private signingKey: Promise<SigningKey> | undefined;

  constructor(options: StepCaJwkIssuerOptions) {
    const fingerprint = normaliseFingerprint(options.rootFingerprint);
    if (fingerprint === undefined) {
      throw new DriverError(
        'step-ca root fingerprint must be a SHA-256 hex digest (64 hex digits)',
        false,
        'config',
      );
    }
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new DriverError(`step-ca URL ${JSON.stringify(options.url)} is not a URL`, false, 'config');
    }
    if (url.protocol !== 'https:' || url.pathname.replace(/\/+$/, '') !== '' || url.search || url.hash) {
      throw new DriverError(
        `step-ca URL ${options.url} must be https://host[:port] with no path`,
        false,
        'config',
      );
    }
    if (!(options.timeoutMs > 0)) {
      throw new DriverError(`step-ca timeoutMs must be positive, got ${options.timeoutMs}`, false, 'config');
    }
    this.url = url.origin;
    this.fingerprint = fingerprint;
    this.provisioner = options.provisioner;
    this.#password = options.password;
    this.timeoutMs = options.timeoutMs;
    this.transport = options.transport ?? httpsTransport;
    this.name = options.name ?? `step-ca ${this.url} (JWK ${options.provisioner})`;
  }

  /** The root, fetched once and pinned by fingerprint. */
  async roots(): Promise<string> {
    return this.trustedRoot();
  }

  async issue(request: IssueRequest): Promise<Issued> {
    const lifetime = request.lifetimeSeconds;
    if (lifetime !== undefined && (!Number.isInteger(lifetime) || lifetime <= 0)) {
      throw new DriverError(`invalid certificate lifetime ${lifetime} s: must be a positive whole number`);
    }
    const rootPem = await this.trustedRoot();
    const trust = { ca: rootPem };
    const { kid, key } = await this.provisionerKey(trust);
    const audience = `${this.url}/1.0/sign`;
    const now = Math.floor(Date.now() / 1000);
    const ott = await new SignJWT({
      sans: [...request.dnsNames, ...request.ipAddresses],
      // step's tokens carry the root fingerprint too.
      sha: this.fingerprint,
    })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(this.provisioner)
      .setAudience(audience)
      .setSubject(request.commonName)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + TOKEN_LIFETIME_SECONDS)
      .setJti(randomBytes(32).toString('hex'))
      .sign(key);
    const body: Record<string, string> = { csr: request.csrPem, ott };
    // Relative to the CA's clock ("3600s"), so client clock skew does not shorten the certificate.
    if (lifetime !== undefined) body.notAfter = `${lifetime}s`;
    const response = await this.call('POST', '/1.0/sign', trust, 'sign the certificate request', body);
    const chain = signedChain(response);
    if (chain.length === 0) {
      throw new DriverError(`step-ca ${audience} answered without a certificate`, false, 'ca-protocol');
    }
    const intermediates = chain.slice(1).join('');
    return { certPem: chain.join(''), chainPem: intermediates + rootPem };
  }

  private trustedRoot(): Promise<string> {
    this.root ??= bootstrapStepCaRoot(this.url, this.fingerprint, this.transport, this.timeoutMs).catch(
      (err: unknown) => {
        this.root = undefined;
        throw err;
      },
    );
    return this.root;
  }

  /** Looked up and decrypted once per issuer; a failure is forgotten so the next call tries again. */
  private provisionerKey(trust: TlsTrust): Promise<SigningKey> {
    this.signingKey ??= this.loadProvisionerKey(trust).catch((err: unknown) => {
      this.signingKey = undefined;
      throw err;
    });
    return this.signingKey;
  }

  private async loadProvisionerKey(trust: TlsTrust): Promise<SigningKey> {
    const entry = await this.findProvisioner(trust);
    const publicJwk = entry.key as JWK & { kid?: unknown };
    const kid = typeof publicJwk.kid === 'string' ? publicJwk.kid : undefined;
    if (kid === undefined) {
      throw new DriverError(
        `step-ca provisioner ${this.provisioner} has a key without a kid`,
        false,
        'ca-provisioner',
      );
    }
    let encryptedKey = typeof entry.encryptedKey === 'string' ? entry.encryptedKey : undefined;
    if (encryptedKey === undefined) {
      const answer = await this.call(
        'GET',
        `/1.0/provisioners/${encodeURIComponent(kid)}/encrypted-key`,
        trust,
        `read the encrypted key of provisioner ${this.provisioner}`,
      );
      encryptedKey = typeof answer.key === 'string' ? answer.key : undefined;
    }
    if (encryptedKey === undefined) {
      throw new DriverError(
        `step-ca provisioner ${this.provisioner} has no encryptedKey: its private key is not stored in the CA, so a token cannot be made from a password`,
        false,
        'ca-provisioner',
      );
    }

    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await compactDecrypt(encryptedKey, new TextEncoder().encode(this.#password), {
        keyManagementAlgorithms: ['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'],
        contentEncryptionAlgorithms: ['A128GCM', 'A192GCM', 'A256GCM', 'A128CBC-HS256', 'A256CBC-HS512'],
        maxPBES2Count: MAX_PBES2_COUNT,
      }));
    } catch (err) {
      // Never the password, never jose's message (it could echo header fields); only what failed.
      if (err instanceof joseErrors.JWEDecryptionFailed) {
        throw new DriverError(
          `cannot decrypt the key of step-ca provisioner ${this.provisioner}: wrong provisioner password`,
          false,
          'ca-password',
        );
      }
      throw new DriverError(
        `cannot decrypt the key of step-ca provisioner ${this.provisioner}: unsupported or corrupt encryptedKey (${(err as { code?: string }).code ?? 'invalid JWE'})`,
        false,
        'ca-provisioner',
      );
    }

    let privateJwk: JWK;
    try {
      privateJwk = JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
    } catch {
      throw new DriverError(
        `the decrypted key of step-ca provisioner ${this.provisioner} is not a JWK`,
        false,
        'ca-provisioner',
      );
    }
    if (
      privateJwk.kty !== 'EC' ||
      privateJwk.crv !== 'P-256' ||
      typeof privateJwk.d !== 'string' ||
      privateJwk.x !== publicJwk.x ||
      privateJwk.y !== publicJwk.y
    ) {
      throw new DriverError(
        `the decrypted key of step-ca provisioner ${this.provisioner} is not the EC P-256 private half of its public key`,
        false,
        'ca-provisioner',
      );
    }
    const key = await importJWK({ ...privateJwk, alg: 'ES256' }, 'ES256');
    return { kid, key };
  }

  private async findProvisioner(trust: TlsTrust): Promise<ProvisionerEntry> {
    let cursor = '';
    const seen: string[] = [];
    for (let page = 0; page < MAX_PROVISIONER_PAGES; page++) {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
      const answer = await this.call('GET', `/1.0/provisioners${query}`, trust, 'list provisioners');
      const list = Array.isArray(answer.provisioners) ? (answer.provisioners as ProvisionerEntry[]) : [];
      for (const entry of list) {
        if (typeof entry?.name !== 'string') continue;
        seen.push(`${entry.name} (${String(entry.type)})`);
        if (entry.name !== this.provisioner) continue;
        if (entry.type !== 'JWK' || typeof entry.key !== 'object' || entry.key === null) {
          throw new DriverError(
            `step-ca provisioner ${this.provisioner} is of type ${String(entry.type)}, not JWK`,
            false,
            'ca-provisioner',
          );
        }
        return entry;
      }
      const next = typeof answer.nextCursor === 'string' ? answer.nextCursor : '';
      if (next === '' || next === cursor) break;
      cursor = next;
    }
    throw new DriverError(
      `step-ca at ${this.url} has no provisioner named ${this.provisioner} (it has: ${seen.join(', ') || 'none'})`,
      false,
      'ca-provisioner',
    );
  }

  private call(
    method: HttpsRequest['method'],
    path: string,
    trust: TlsTrust,
    purpose: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> {
    return callStepCa(this.transport, this.timeoutMs, {
      method,
      url: `${this.url}${path}`,
      trust,
      purpose,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }
}

/**
 * The trust bootstrap of `step ca bootstrap`: the root by fingerprint over an unverified connection, accepted
 * only if its SHA-256 matches. Nothing secret is sent or used before this succeeds.
 */
export async function bootstrapStepCaRoot(
  baseUrl: string,
  fingerprint: string,
  transport: HttpsTransport = httpsTransport,
  timeoutMs = 10_000,
): Promise<string> {
  const expected = normaliseFingerprint(fingerprint);
  if (expected === undefined) {
    throw new DriverError(
      'step-ca root fingerprint must be a SHA-256 hex digest (64 hex digits)',
      false,
      'config',
    );
  }
  const url = `${new URL(baseUrl).origin}/root/${expected}`;
  const answer = await callStepCa(transport, timeoutMs, {
    method: 'GET',
    url,
    trust: { insecureBootstrap: true },
    purpose: 'fetch the root certificate by fingerprint',
    notFound: `step-ca at ${new URL(baseUrl).origin} has no root with SHA-256 fingerprint ${expected}: check the configured root fingerprint`,
  });
  const pem = typeof answer.ca === 'string' ? splitPemChain(answer.ca)[0] : undefined;
  if (pem === undefined) {
    throw new DriverError(`step-ca ${url} answered without a root certificate`, false, 'ca-protocol');
  }
  let actual: string;
  try {
    actual = certificateFingerprint(pem);
  } catch {
    throw new DriverError(
      `step-ca ${url} answered with an unparsable root certificate`,
      false,
      'ca-protocol',
    );
  }
  if (actual !== expected) {
    throw new DriverError(
      `refusing step-ca at ${new URL(baseUrl).origin}: its root has SHA-256 fingerprint ${actual}, expected ${expected}`,
      false,
      'ca-root-mismatch',
    );
  }
  return pem;
}

interface StepCaCall {
  readonly method: HttpsRequest['method'];
  readonly url: string;
  readonly trust: TlsTrust;
  readonly purpose: string;
  readonly body?: string;
  /** The whole message for a 404, when "not found" means something specific. */
  readonly notFound?: string;
}

/** One request, its failures mapped to DriverErrors, its JSON body returned. */
async function callStepCa(
  transport: HttpsTransport,
  timeoutMs: number,
  call: StepCaCall,
): Promise<Record<string, unknown>> {
  const what = `step-ca ${call.method} ${call.url}`;
  let response;
  try {
    response = await transport({
      method: call.method,
      url: call.url,
      trust: call.trust,
      timeoutMs,
      ...(call.body === undefined ? {} : { body: call.body }),
    });
  } catch (err) {
    if (err instanceof TransportError) {
      switch (err.kind) {
        case 'unreachable':
          return Promise.reject(
            new DriverError(
              `cannot reach ${what} (${err.errorCode ?? 'connection failed'}) to ${call.purpose}`,
              true,
              'ca-unreachable',
            ),
          );
        case 'timeout':
          return Promise.reject(
            new DriverError(
              `${what} did not answer within ${timeoutMs} ms (${call.purpose})`,
              true,
              'ca-timeout',
            ),
          );
        case 'tls':
          return Promise.reject(
            new DriverError(
              `TLS verification of ${what} failed (${err.errorCode ?? 'handshake'}): the server does not prove it belongs to the pinned step-ca root`,
              false,
              'ca-tls',
            ),
          );
        default:
          return Promise.reject(new DriverError(`${what} failed: ${err.message}`, false, 'ca-protocol'));
      }
    }
    return Promise.reject(
      new DriverError(
        `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
        false,
        'ca-protocol',
      ),
    );
  }

  let json: unknown;
  try {
    json = response.body === '' ? {} : JSON.parse(response.body);
  } catch {
    json = undefined;
  }
  if (response.status === 404 && call.notFound !== undefined) {
    return Promise.reject(new DriverError(call.notFound, false, 'ca-rejected'));
  }
  if (response.status < 200 || response.status > 299) {
    const message =
      json !== null && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string'
        ? (json as { message: string }).message
        : `HTTP ${response.status}`;
    const retryable =
      response.status === 429 ||
      response.status === 502 ||
      response.status === 503 ||
      response.status === 504;
    const code = response.status >= 500 ? 'ca-server' : 'ca-rejected';
    return Promise.reject(
      new DriverError(
        `step-ca refused to ${call.purpose} (${call.method} ${call.url} → ${response.status}): ${message}`,
        retryable,
        code,
      ),
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return Promise.reject(
      new DriverError(`${what} answered ${response.status} without a JSON object`, false, 'ca-protocol'),
    );
  }
  return json as Record<string, unknown>;
}

/** `certChain` (leaf first) when present, otherwise `crt` + `ca` (older CAs). */
function signedChain(answer: Record<string, unknown>): string[] {
  const chain = Array.isArray(answer.certChain)
    ? answer.certChain.filter((c): c is string => typeof c === 'string')
    : [];
  const pems =
    chain.length > 0 ? chain : [answer.crt, answer.ca].filter((c): c is string => typeof c === 'string');
  return pems.flatMap((pem) => splitPemChain(pem));
}
