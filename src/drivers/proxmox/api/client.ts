import { DriverError } from '../../errors.js';
import { PveAuthError, PveProtocolError, errorFromResponse } from './errors.js';
import { encodeForm } from './form.js';
import { anySignal, withRetries } from './retry.js';
import type { PveParams } from './form.js';
import { pveHttpsTransport } from './transport.js';
import type { HttpMethod, PveTransport, PveTrust } from './transport.js';

/**
 * The Proxmox VE REST API at https://HOST:8006/api2/json, one layer: authentication, form-encoded
 * parameters, `{data: ...}` unwrapped, typed errors (errors.ts) and explicit, bounded retries of the
 * errors marked retryable. The typed helpers for the endpoints the hypervisor driver needs are in
 * resources.ts, tasks.ts and agent.ts.
 *
 * Secrets (the token secret, the password, the ticket, the CSRF token) live only in this object's private
 * fields and in request headers/bodies; they are never logged and never part of an error message.
 *
 * Retries: only errors with `retryable` are retried — connection refused or unreachable (the request was
 * never sent), a config lock timeout, 502/503/504, and a lost connection or timeout of a GET. A write
 * that may have reached the server (connection lost after sending, timeout) is not retried: the caller
 * re-reads and decides again.
 */

export type PveAuth =
  | {
      readonly kind: 'token';
      /** "USER@REALM!TOKENID", e.g. "phoenix@pve!sync". */
      readonly tokenId: string;
      /** The token's secret (a UUID). Passed in by the caller, e.g. read from a 0600 file. */
      readonly secret: string;
    }
  | {
      readonly kind: 'ticket';
      /** "USER@REALM". */
      readonly username: string;
      readonly password: string;
    };

export interface RetryPolicy {
  /** Total attempts including the first; default 4. */
  readonly attempts?: number;
  /** Backoff before the 2nd attempt, doubling each time; default 250 ms. */
  readonly baseDelayMs?: number;
  /** Upper bound of one backoff; default 4000 ms. */
  readonly maxDelayMs?: number;
}

export interface RetryEvent {
  readonly where: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: DriverError;
}

export interface PveApiClientOptions {
  readonly host: string;
  /** Default 8006. */
  readonly port?: number;
  readonly auth: PveAuth;
  readonly trust: PveTrust;
  /** Per request; default 30 s. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Aborts every request and backoff of this client (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Called before each retry (for `--verbose`); the event holds no secret. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** Replaceable for tests; default HTTPS with the pinned trust. */
  readonly transport?: PveTransport;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** false: exactly one attempt. */
  readonly retry?: boolean;
  readonly timeoutMs?: number;
}

/** The unwrapped answer; `total` is present on paged lists such as a task log. */
export interface PveResult<T> {
  readonly data: T;
  readonly total?: number;
}

/**
 * The Proxmox API as the resource, task and agent helpers use it. Two implementations: the HTTPS client
 * below, and `pvesh` (the node's own command-line entry to the same API handlers) run locally or over SSH.
 */
export interface PveApi {
  request<T = unknown>(
    method: HttpMethod,
    path: string,
    params?: PveParams,
    opts?: RequestOptions,
  ): Promise<PveResult<T>>;
  get<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T>;
  post<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T>;
  put<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T>;
  delete<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T>;
}

/** The verb shorthands of PveApi, for both transports (REST here, pvesh in cli/pvesh-api.ts). */
export abstract class PveApiVerbs implements PveApi {
  abstract request<T = unknown>(
    method: HttpMethod,
    path: string,
    params?: PveParams,
    opts?: RequestOptions,
  ): Promise<PveResult<T>>;

  get<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, params, opts).then((r) => r.data);
  }
  post<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, params, opts).then((r) => r.data);
  }
  put<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, params, opts).then((r) => r.data);
  }
  delete<T = unknown>(path: string, params?: PveParams, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, params, opts).then((r) => r.data);
  }
}

const TOKEN_ID = /^[^\s@!:=]+@[^\s@!:=]+![A-Za-z][A-Za-z0-9._-]*$/;
const USER_ID = /^[^\s@!:=]+@[^\s@!:=]+$/;
const API_PREFIX = '/api2/json';

export class PveApiClient extends PveApiVerbs {
  readonly baseUrl: string;
  private readonly host: string;
  private readonly port: number;
  private readonly transport: PveTransport;
  private readonly auth: PveAuth;
  private ticket: { readonly cookie: string; readonly csrf: string } | undefined;
  private login: Promise<void> | undefined;

  constructor(private readonly options: PveApiClientOptions) {
    super();
    const { auth } = options;
    if (auth.kind === 'token') {
      if (!TOKEN_ID.test(auth.tokenId)) {
        throw new DriverError(
          `API token id "${auth.tokenId}" is not USER@REALM!TOKENID`,
          false,
          'pve-config',
        );
      }
      if (!/^[\x21-\x7e]+$/.test(auth.secret)) {
        throw new DriverError(
          `API token secret of ${auth.tokenId} is empty or has invalid characters`,
          false,
          'pve-config',
        );
      }
    } else if (!USER_ID.test(auth.username)) {
      throw new DriverError(`user "${auth.username}" is not USER@REALM`, false, 'pve-config');
    }
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(options.host)) {
      throw new DriverError(`"${options.host}" is not a host name or address`, false, 'pve-config');
    }
    this.auth = auth;
    this.host = options.host.replace(/^\[(.*)\]$/, '$1');
    this.port = options.port ?? 8006;
    this.transport = options.transport ?? pveHttpsTransport;
    const shown = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.baseUrl = `https://${shown}:${this.port}${API_PREFIX}`;
  }

  /** One API call with bounded retries of retryable errors. `path` is below /api2/json, e.g. "/nodes". */
  async request<T = unknown>(
    method: HttpMethod,
    path: string,
    params?: PveParams,
    opts: RequestOptions = {},
  ): Promise<PveResult<T>> {
    if (!path.startsWith('/') || /(^|\/)\.\.?(\/|$)|[?#\s]/.test(path)) {
      throw new DriverError(`invalid API path ${JSON.stringify(path)}`, false, 'pve-config');
    }
    const signal = anySignal(this.options.signal, opts.signal);
    return withRetries(
      this.options.retry ?? {},
      opts.retry !== false,
      signal,
      `${method} ${path}`,
      this.options.onRetry,
      () => this.once<T>(method, path, params, opts, signal),
    );
  }

  private async once<T>(
    method: HttpMethod,
    path: string,
    params: PveParams | undefined,
    opts: RequestOptions,
    signal: AbortSignal | undefined,
  ): Promise<PveResult<T>> {
    let relogged = false;
    for (;;) {
      const headers = await this.authHeaders(method, signal);
      try {
        return await this.send<T>(method, path, params, headers, opts, signal);
      } catch (err) {
        // An expired ticket (2 h lifetime): log in again once. A refused token is final.
        if (err instanceof PveAuthError && err.status === 401 && this.auth.kind === 'ticket' && !relogged) {
          relogged = true;
          this.ticket = undefined;
          continue;
        }
        throw err;
      }
    }
  }

  private async send<T>(
    method: HttpMethod,
    path: string,
    params: PveParams | undefined,
    headers: Record<string, string>,
    opts: RequestOptions,
    signal: AbortSignal | undefined,
  ): Promise<PveResult<T>> {
    const form = encodeForm(params);
    const write = method === 'POST' || method === 'PUT';
    const full = `${API_PREFIX}${path}${!write && form ? `?${form}` : ''}`;
    const where = `${method} ${path}`;
    const res = await this.transport({
      method,
      host: this.host,
      port: this.port,
      path: full,
      headers: { accept: 'application/json', 'user-agent': 'phoenix', ...headers },
      ...(write ? { body: form } : {}),
      trust: this.options.trust,
      timeoutMs: opts.timeoutMs ?? this.options.timeoutMs ?? 30_000,
      ...(signal ? { signal } : {}),
    });
    if (res.status < 200 || res.status > 299) {
      throw errorFromResponse(where, res.status, res.reason, res.body, /^\/nodes\/([^/]+)/.exec(path)?.[1]);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      throw new PveProtocolError(`${where}: answer is not JSON (status ${res.status})`);
    }
    if (typeof parsed !== 'object' || parsed === null || !('data' in parsed)) {
      throw new PveProtocolError(`${where}: answer has no "data" member`);
    }
    const { data, total } = parsed as { data: T; total?: unknown };
    return typeof total === 'number' ? { data, total } : { data };
  }

  private async authHeaders(
    method: HttpMethod,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, string>> {
    if (this.auth.kind === 'token') {
      return { authorization: `PVEAPIToken=${this.auth.tokenId}=${this.auth.secret}` };
    }
    if (this.ticket === undefined) {
      this.login ??= this.createTicket(signal).finally(() => (this.login = undefined));
      await this.login;
    }
    const ticket = this.ticket!;
    const headers: Record<string, string> = { cookie: `PVEAuthCookie=${ticket.cookie}` };
    // Proxmox requires the CSRF token on every request that is not a GET.
    if (method !== 'GET') headers.csrfpreventiontoken = ticket.csrf;
    return headers;
  }

  /** POST /access/ticket. The password is sent only here, in the form body. */
  private async createTicket(signal: AbortSignal | undefined): Promise<void> {
    if (this.auth.kind !== 'ticket') return;
    const res = await this.send<{ ticket?: unknown; CSRFPreventionToken?: unknown; NeedTFA?: unknown }>(
      'POST',
      '/access/ticket',
      { username: this.auth.username, password: this.auth.password },
      {},
      {},
      signal,
    );
    const { ticket, CSRFPreventionToken: csrf, NeedTFA: needTfa } = res.data ?? {};
    if (needTfa || typeof ticket !== 'string' || typeof csrf !== 'string' || ticket === '' || csrf === '') {
      // With two-factor authentication on, Proxmox answers 200 with a half ticket and NeedTFA.
      throw new PveAuthError(
        'POST /access/ticket',
        401,
        'no ticket issued (two-factor authentication is not supported; use an API token)',
      );
    }
    this.ticket = { cookie: encodeURIComponent(ticket), csrf };
  }
}
