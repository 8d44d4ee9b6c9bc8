import { DriverError } from '../../errors.js';
import { PveApiVerbs } from '../api/client.js';
import type { PveResult, RequestOptions, RetryEvent, RetryPolicy } from '../api/client.js';
import { anySignal, withRetries } from '../api/retry.js';
import { PveProtocolError, errorFromResponse } from '../api/errors.js';
import type { PveApiError } from '../api/errors.js';
import type { PveParams } from '../api/form.js';
import type { HttpMethod } from '../api/transport.js';
import { isUpid } from '../api/upid.js';
import type { Pvesh } from './pvesh.js';

/**
 * The Proxmox API (`PveApi`) over `pvesh`, the node's command-line entry to the same API handlers, run
 * locally or over SSH by the `Pvesh` runner. The resource, task and agent helpers (api/resources.ts,
 * tasks.ts, agent.ts, vmid.ts) work on it unchanged. pvesh runs as root on the node: no token is involved.
 *
 * Calls (pvesh(1), pve-manager PVE/CLI/pvesh.pm): GET/POST/PUT/DELETE → `pvesh get|create|set|delete PATH
 * --key value ... --output-format json`. Parameters as pvesh's Getopt parsing takes them (pve-common
 * JSONSchema::get_options): an array parameter is the option repeated (`--command ls --command -l`),
 * booleans are 1/0, undefined values are left out; a value may start with "-" (string options take the next
 * argument whatever it is). Percent-encoded path segments (`seg()` of a UPID) are decoded: pvesh takes the
 * path literally.
 *
 * Output: pvesh prints only the `data` (canonical one-line JSON), nothing for a null result (→ `null`, as
 * `{"data":null}` is over HTTPS). `total` is not printed, so `request()` never has it (a task log tail read
 * through tasks.ts gets the first page). An asynchronous call prints its UPID — but in the CLI environment
 * the worker runs in the foreground (pve-common RESTEnvironment::fork_worker, `$sync` for type "cli") and
 * its output is printed first; the UPID is then the last line. The task has ended by then; waitForTask
 * polls `/nodes/{node}/tasks/{upid}/status` as over HTTPS and checks the exit status.
 *
 * Errors (stderr, non-zero exit) become the same typed errors as over HTTPS, through errorFromResponse:
 * - a PVE::Exception with a code prints "CODE MESSAGE" then "param: message" lines (pve-common
 *   Exception::stringify; for 400 CLIHandler appends the usage): status, reason and `paramErrors` from
 *   those lines → PveApiError, PveAuthError (401/403), VmidTaken ("VM N already exists").
 * - a plain `die` prints the message only; the API server answers such a die with 500 and the message, so it
 *   is status 500 with the message as reason. Among these, classified by text as errorFromResponse does:
 *   "can't lock file '...' - got timeout" (pve-common Tools::lock_file) → ConfigLocked (retryable);
 *   "detected modified configuration - file changed by other user? Try again." (Tools::assert_if_modified)
 *   → ConcurrentChange; "unable to create CT|VM N - ... already exists" → VmidTaken.
 * - a call for another node is proxied over SSH (check_proxyto/proxy_handler): when that node is down it
 *   fails with "proxy handler failed: ssh: connect to host IP port 22: No route to host" (pve-common
 *   Cmd::run_command's errmsg + ssh's last stderr line) → NodeOffline, the 595 pveproxy answers with. A
 *   remote error comes back as "proxy handler failed: <its last line>" and is classified by the same texts.
 * - "No 'get' handler defined for 'PATH'" (unknown path) → status 501, as the API answers.
 * - "hostname lookup 'X' failed - ..." (pve-common Network::get_ip_from_hostname: a node name that is not
 *   in the cluster) is a plain die → PveApiError 500, exactly as the API answers it; it is not NodeOffline
 *   (the node does not exist; a cluster member's address comes from the cluster, not from DNS).
 * SSH failures of the runner (SshError) and timeouts pass through unchanged.
 *
 * Retries: as PveApiClient — errors marked `retryable` (a config lock timeout; an SSH connection that was
 * refused, so nothing ran) are retried with bounded backoff unless `retry: false`.
 */

export interface PveshApiOptions {
  readonly retry?: RetryPolicy;
  readonly onRetry?: (event: RetryEvent) => void;
  readonly signal?: AbortSignal;
  /** Per call; default 10 minutes, since a task runs to its end inside the pvesh call. */
  readonly timeoutMs?: number;
}

const COMMAND: Record<HttpMethod, string> = { GET: 'get', POST: 'create', PUT: 'set', DELETE: 'delete' };
/** pvesh's own options: a parameter of that name would change what pvesh does, not what the API gets. */
const RESERVED = new Set(['output-format', 'quiet', 'noproxy', 'noborder', 'noheader', 'human-readable']);

/** Parameters → pvesh options (pure): arrays repeated, booleans 1/0, undefined left out. */
export function pveshParamArgs(params: PveParams | undefined): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value === undefined) continue;
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(key) || RESERVED.has(key)) {
      throw new DriverError(`invalid API parameter name: ${JSON.stringify(key)}`, false, 'pve-config');
    }
    const values = Array.isArray(value) ? (value as readonly string[]) : [value as string | number | boolean];
    for (const v of values) {
      if (typeof v === 'number' && !Number.isFinite(v))
        throw new TypeError(`parameter ${key} is not a finite number`);
      const text = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
      if (text.includes('\0')) throw new TypeError(`parameter ${key} contains a NUL byte`);
      out.push(`--${key}`, text);
    }
  }
  return out;
}

/** An API path as PveApiClient takes it (segments percent-encoded) → the literal path pvesh takes (pure). */
export function pveshPath(path: string): string {
  if (!path.startsWith('/') || /(^|\/)\.\.?(\/|$)|[?#\s]/.test(path)) {
    throw new DriverError(`invalid API path ${JSON.stringify(path)}`, false, 'pve-config');
  }
  const segments = path
    .slice(1)
    .split('/')
    .map((s) => {
      let d: string;
      try {
        d = decodeURIComponent(s);
      } catch {
        throw new DriverError(`invalid API path ${JSON.stringify(path)}`, false, 'pve-config');
      }
      // A decoded "/" would change the route; "." or ".." likewise.
      if (/[/\0\n\r]/.test(d) || d === '.' || d === '..') {
        throw new DriverError(`invalid API path ${JSON.stringify(path)}`, false, 'pve-config');
      }
      return d;
    });
  return `/${segments.join('/')}`;
}

/** pvesh's stdout → the data (pure); see the header for the task output before a UPID. */
export function parsePveshOutput(where: string, stdout: string): unknown {
  const text = stdout.trim();
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const last = text.slice(text.lastIndexOf('\n') + 1);
    let data: unknown;
    try {
      data = JSON.parse(last);
    } catch {
      data = undefined;
    }
    if (isUpid(data)) return data;
    // The output itself is not quoted: it may hold file content.
    throw new PveProtocolError(`${where}: output is not JSON (${text.length} characters)`);
  }
}

const STATUS_LINE = /^(\d{3}) (.+)$/;
const PARAM_LINE = /^([A-Za-z][A-Za-z0-9_.[\]-]*): (.*)$/;
const SSH_CONNECT = /^(?:proxy handler failed: )?ssh: connect to host \S+ port \d+: (.+)$/m;
const NO_HANDLER = /^No '\w+' handler defined for '|^no '\w+' handler for '/m;
const PROXY_FAILED = /^proxy handler failed: (.+)$/m;

/** pvesh's error output → the typed error the HTTPS client throws for the same failure (pure). */
export function pveshError(where: string, exitCode: number, stderr: string, node?: string): PveApiError {
  const lines = stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !l.startsWith('WARN: '));
  const offline = SSH_CONNECT.exec(stderr);
  if (offline) return errorFromResponse(where, 595, offline[1]!.trim(), '{"data":null}', node);
  const at = lines.findIndex((l) => STATUS_LINE.test(l));
  if (at >= 0) {
    const [, status, reason] = STATUS_LINE.exec(lines[at]!)!;
    const errors: Record<string, string> = {};
    for (const line of lines.slice(at + 1)) {
      const m = PARAM_LINE.exec(line);
      if (!m) break; // the usage line CLIHandler appends, or anything else
      errors[m[1]!] = m[2]!;
    }
    return errorFromResponse(where, Number(status), reason!, JSON.stringify({ data: null, errors }), node);
  }
  const reason =
    PROXY_FAILED.exec(stderr)?.[1] ??
    (lines.length > 0 ? lines.join(' ') : `pvesh exited with ${exitCode} and no error message`);
  const status = NO_HANDLER.test(stderr) ? 501 : 500;
  return errorFromResponse(where, status, reason.trim(), '{"data":null}', node);
}

export class PveshApi extends PveApiVerbs {
  constructor(
    readonly pvesh: Pvesh,
    private readonly options: PveshApiOptions = {},
  ) {
    super();
  }

  /** One pvesh call with bounded retries of retryable errors (the same policy as PveApiClient). */
  async request<T = unknown>(
    method: HttpMethod,
    path: string,
    params?: PveParams,
    opts: RequestOptions = {},
  ): Promise<PveResult<T>> {
    const literal = pveshPath(path);
    const command = COMMAND[method];
    const argv = ['pvesh', command, literal, ...pveshParamArgs(params), '--output-format', 'json'];
    // Names the call, never its parameter values (they may be file content).
    const where = `pvesh ${command} ${literal}${this.pvesh.runner.describe === 'local' ? '' : ` (${this.pvesh.runner.describe})`}`;
    const node = /^\/nodes\/([^/]+)/.exec(literal)?.[1];
    const signal = anySignal(this.options.signal, opts.signal);
    return withRetries(
      this.options.retry ?? {},
      opts.retry !== false,
      signal,
      where,
      this.options.onRetry,
      async () => {
        const r = await this.pvesh.runner.run(argv, {
          what: where,
          timeoutMs: opts.timeoutMs ?? this.options.timeoutMs ?? 600_000,
          ...(signal ? { signal } : {}),
        });
        if (r.exitCode !== 0) throw pveshError(where, r.exitCode, r.stderr, node);
        return { data: parsePveshOutput(where, r.stdout) as T };
      },
    );
  }
}
