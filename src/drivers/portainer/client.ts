import { setTimeout as delay } from 'node:timers/promises';
import { TransportError } from '../ca/trust.js';
import { MutationRefused } from '../errors.js';
import { AdminInitTimeoutError, PortainerApiError, PortainerTransportError, kindOfStatus } from './errors.js';
import type { EncodedBody } from './form.js';
import { NOT_SENT_CODES, portainerHttpsTransport } from './http.js';
import type { HttpMethod, PortainerHttpResponse, PortainerTransport } from './http.js';

/**
 * A Portainer CE 2.x API client (https://docs.portainer.io/api/docs, the swagger of the `api/http/handler`
 * packages). HTTPS only, verified against the internal CA root. Authentication is either a JWT from
 * `POST /api/auth` (Username/Password, re-authenticated once when a call answers 401 — the JWT expires after
 * the session timeout, 8 h by default) or an access token sent as `X-API-Key`.
 *
 * Secrets: the password and the JWT live in private fields (not shown by `util.inspect`), are only put in
 * request bodies/headers, and no error message is built from a body or a header.
 *
 * Retries are explicit and bounded (`retries`, default 2, exponential backoff from `retryDelayMs`):
 * - a connection that was refused (ECONNREFUSED, EHOSTUNREACH, ...) is retried for every method: the request
 *   never reached a server;
 * - a timeout, a reset connection or a 502/503/504 is retried for GET only — a POST or PUT may have been
 *   applied (a stack deploy keeps running after the client gave up), so the error is thrown marked
 *   `retryable` and the caller re-reads the state before trying again;
 * - every other answer (400, 401 after re-auth, 403, 404, 409, 422, 500) is final.
 */

export type PortainerAuth =
  | { readonly kind: 'password'; readonly username: string; readonly password: string }
  | { readonly kind: 'apiKey'; readonly key: string };

export interface PortainerClientOptions {
  /** `https://host:9443` (no path, no credentials). */
  readonly baseUrl: string;
  /** PEM of the internal CA root that issued Portainer's certificate. */
  readonly caPem: string;
  /** Absent: only the public endpoints (status, admin check/init) can be called. */
  readonly auth?: PortainerAuth;
  /** Per request; default 15 000 ms. */
  readonly timeoutMs?: number;
  /** Extra attempts for retryable failures; default 2. */
  readonly retries?: number;
  /** First backoff; doubled per attempt; default 250 ms. */
  readonly retryDelayMs?: number;
  readonly transport?: PortainerTransport;
  /**
   * plan / --dry-run: every call but GET (and the login, POST /api/auth) is refused with MutationRefused
   * before anything is sent.
   */
  readonly readOnly?: boolean;
}

export interface CallOptions {
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as application/json. */
  readonly json?: unknown;
  /** A form body (see form.ts). */
  readonly form?: EncodedBody;
  /** Default true; false for the public endpoints. */
  readonly auth?: boolean;
  /** Statuses that are success; default [200]. */
  readonly expect?: readonly number[];
  readonly timeoutMs?: number;
  /**
   * Extra request headers, e.g. `X-PortainerAgent-Target` to reach one swarm node through the agent. They
   * cannot replace the ones the client sets (authentication, content type); values are never put in errors.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface PortainerResponse {
  readonly status: number;
  readonly body: string;
}

const GATEWAY_STATUSES = new Set([502, 503, 504]);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
// Set by the client itself: a caller's header must not swap the credentials or the body's type.
const RESERVED_HEADERS = new Set([
  'accept',
  'authorization',
  'content-type',
  'content-length',
  'host',
  'x-api-key',
]);

export class PortainerClient {
  readonly baseUrl: string;
  readonly #caPem: string;
  readonly #auth: PortainerAuth | undefined;
  readonly #transport: PortainerTransport;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly readOnly: boolean;
  #jwt: string | undefined;
  #authentications = 0;

  constructor(options: PortainerClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new Error('Portainer base URL is not a URL');
    }
    if (url.protocol !== 'https:') throw new Error('Portainer base URL must be https://');
    if (url.username !== '' || url.password !== '')
      throw new Error('Portainer base URL must not carry credentials');
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      throw new Error('Portainer base URL must be scheme://host:port only');
    }
    this.baseUrl = url.origin;
    this.#caPem = options.caPem;
    this.#auth = options.auth;
    this.#transport = options.transport ?? portainerHttpsTransport;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#retries = Math.max(0, Math.min(options.retries ?? 2, 10));
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.readOnly = options.readOnly ?? false;
  }

  /** How many times this client called POST /api/auth (tests: re-auth happened once). */
  get authentications(): number {
    return this.#authentications;
  }

  /** Forget the JWT; the next authenticated call logs in again. */
  logout(): void {
    this.#jwt = undefined;
  }

  /** GET/POST/PUT and parse the JSON answer. */
  async json<T>(method: HttpMethod, path: string, options: CallOptions = {}): Promise<T> {
    const response = await this.call(method, path, options);
    try {
      return JSON.parse(response.body) as T;
    } catch {
      throw new PortainerApiError(
        'unexpected',
        method,
        path,
        response.status,
        'the answer is not JSON',
        undefined,
      );
    }
  }

  async call(method: HttpMethod, path: string, options: CallOptions = {}): Promise<PortainerResponse> {
    if (!path.startsWith('/api/')) throw new Error(`Portainer path must start with /api/: ${path}`);
    if (this.readOnly && method !== 'GET') throw new MutationRefused(`portainer ${method} ${path}`);
    checkHeaders(method, path, options.headers);
    const needsAuth = options.auth ?? true;
    if (needsAuth && this.#auth === undefined) {
      throw new Error(`Portainer ${method} ${path} needs credentials and the client has none`);
    }
    let reauthenticated = false;
    for (;;) {
      const response = await this.#withRetries(method, path, () =>
        this.#send(method, path, options, needsAuth),
      );
      if (response.status === 401 && needsAuth && this.#auth?.kind === 'password' && !reauthenticated) {
        reauthenticated = true;
        this.#jwt = undefined;
        continue;
      }
      return this.#check(method, path, response, options.expect ?? [200]);
    }
  }

  async #send(
    method: HttpMethod,
    path: string,
    options: CallOptions,
    needsAuth: boolean,
  ): Promise<PortainerHttpResponse> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    Object.assign(headers, { accept: 'application/json', 'user-agent': 'phoenix' });
    if (needsAuth) Object.assign(headers, await this.#authHeader());
    let body: Buffer | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(options.json), 'utf8');
    } else if (options.form !== undefined) {
      headers['content-type'] = options.form.contentType;
      body = options.form.body;
    }
    const query = options.query ? `?${new URLSearchParams(options.query).toString()}` : '';
    return this.#transport({
      method,
      url: `${this.baseUrl}${path}${query}`,
      headers,
      ...(body !== undefined ? { body } : {}),
      ca: this.#caPem,
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
    });
  }

  async #authHeader(): Promise<Record<string, string>> {
    const auth = this.#auth;
    if (auth === undefined) return {};
    if (auth.kind === 'apiKey') return { 'x-api-key': auth.key };
    if (this.#jwt === undefined) {
      this.#authentications++;
      const response = await this.#withRetries('POST', '/api/auth', () =>
        this.#transport({
          method: 'POST',
          url: `${this.baseUrl}/api/auth`,
          headers: {
            accept: 'application/json',
            'content-type': 'application/json',
            'user-agent': 'phoenix',
          },
          body: Buffer.from(JSON.stringify({ Username: auth.username, Password: auth.password }), 'utf8'),
          ca: this.#caPem,
          timeoutMs: this.#timeoutMs,
        }),
      );
      this.#check('POST', '/api/auth', response, [200]);
      let jwt: unknown;
      try {
        jwt = (JSON.parse(response.body) as { jwt?: unknown }).jwt;
      } catch {
        jwt = undefined;
      }
      if (typeof jwt !== 'string' || jwt === '') {
        throw new PortainerApiError(
          'unexpected',
          'POST',
          '/api/auth',
          response.status,
          'no jwt in the answer',
          undefined,
        );
      }
      this.#jwt = jwt;
    }
    return { authorization: `Bearer ${this.#jwt}` };
  }

  async #withRetries(
    method: HttpMethod,
    path: string,
    attempt: () => Promise<PortainerHttpResponse>,
  ): Promise<PortainerHttpResponse> {
    for (let n = 0; ; n++) {
      const last = n >= this.#retries;
      let response: PortainerHttpResponse;
      try {
        response = await attempt();
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        const notSent =
          err.kind === 'unreachable' && err.errorCode !== undefined && NOT_SENT_CODES.has(err.errorCode);
        const retryable = err.kind === 'unreachable' || err.kind === 'timeout';
        if (!last && (notSent || (retryable && method === 'GET'))) {
          await delay(this.#retryDelayMs * 2 ** n);
          continue;
        }
        const tries = n + 1;
        throw new PortainerTransportError(
          `Portainer ${err.message}${tries > 1 ? ` (after ${tries} attempts)` : ''}`,
          err.kind,
          err.errorCode,
          retryable,
        );
      }
      if (GATEWAY_STATUSES.has(response.status) && method === 'GET' && !last) {
        await delay(this.#retryDelayMs * 2 ** n);
        continue;
      }
      return response;
    }
  }

  #check(
    method: string,
    path: string,
    response: PortainerHttpResponse,
    expect: readonly number[],
  ): PortainerHttpResponse {
    if (expect.includes(response.status)) return response;
    const { message, details } = parseError(response.body);
    if (response.status === 303 && headerValue(response.headers['redirect-reason']) === 'AdminInitTimeout') {
      throw new AdminInitTimeoutError(path);
    }
    const kind = kindOfStatus(response.status);
    throw new PortainerApiError(
      kind,
      method,
      path,
      response.status,
      message,
      details,
      GATEWAY_STATUSES.has(response.status),
    );
  }
}

function checkHeaders(method: string, path: string, headers: CallOptions['headers']): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!HEADER_NAME.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new Error(
        `Portainer ${method} ${path}: header ${JSON.stringify(name)} cannot be set by a caller`,
      );
    }
    // The value is left out of the message: it may be a secret.
    if (/[\r\n\0]/.test(value))
      throw new Error(`Portainer ${method} ${path}: header ${name} has an invalid value`);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Portainer's `{message, details}`; Docker's proxied `{message}`; otherwise a short excerpt. */
export function parseError(body: string): { message: string; details: string | undefined } {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; details?: unknown };
    if (parsed && typeof parsed === 'object') {
      const message = typeof parsed.message === 'string' ? parsed.message : '';
      const details = typeof parsed.details === 'string' ? parsed.details : undefined;
      if (message !== '' || details !== undefined) return { message, details };
    }
  } catch {
    // not JSON: fall through
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return { message: text.length > 200 ? `${text.slice(0, 200)}…` : text, details: undefined };
}
