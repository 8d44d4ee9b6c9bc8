import { DriverError } from '../../errors.js';

/**
 * Typed errors of the Proxmox VE REST API client. The engine and the driver decide from the class and
 * `retryable`, never from message text; the text is for people. No error message ever contains the API
 * token secret, the password or a ticket: they are built from the method, the path and what the server
 * said, never from request headers or bodies.
 */

/** Where a request went: "PUT /nodes/pve/lxc/101/config". Never the query string (it may hold values). */
export type RequestWhere = string;

/** A response with a status other than 2xx. `statusText` is Proxmox's message (it puts it in the status line). */
export class PveApiError extends DriverError {
  constructor(
    readonly where: RequestWhere,
    readonly status: number,
    /** Proxmox's message (the HTTP reason phrase), e.g. "Parameter verification failed." */
    readonly reason: string,
    /** Proxmox's per-parameter errors (`{"errors": {"vmid": "..."}}`), empty when none. */
    readonly paramErrors: Readonly<Record<string, string>> = {},
    retryable = false,
    code = 'pve-api',
  ) {
    super(describe(where, status, reason, paramErrors), retryable, code);
    this.name = 'PveApiError';
  }
}

function describe(where: string, status: number, reason: string, params: Readonly<Record<string, string>>) {
  const detail = Object.entries(params)
    .map(([param, text]) => `${param}: ${text.trim()}`)
    .join('; ');
  return `${where}: ${status} ${reason.trim()}${detail ? ` (${detail})` : ''}`;
}

/** 401/403: the token or ticket was refused, or lacks a privilege, or a write lacked the CSRF token. */
export class PveAuthError extends PveApiError {
  constructor(where: RequestWhere, status: number, reason: string) {
    super(where, status, reason, {}, false, 'pve-auth');
    this.name = 'PveAuthError';
  }
}

/** 595: the API node could not reach the target node (node offline, no route). The node is reported, not skipped. */
export class NodeOffline extends PveApiError {
  constructor(
    where: RequestWhere,
    reason: string,
    /** The node named in the path, when there was one. */
    readonly node: string | undefined,
  ) {
    super(where, 595, reason, {}, false, 'pve-node-offline');
    this.name = 'NodeOffline';
  }
}

/** "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout": another writer holds the config lock. */
export class ConfigLocked extends PveApiError {
  constructor(where: RequestWhere, status: number, reason: string) {
    super(where, status, reason, {}, true, 'pve-config-locked');
    this.name = 'ConfigLocked';
  }
}

/**
 * The guest's config changed since it was read (the `digest` passed with the write no longer matches).
 * Not retryable as such: the caller must read again and decide again, never overwrite.
 */
export class ConcurrentChange extends PveApiError {
  constructor(where: RequestWhere, status: number, reason: string) {
    super(where, status, reason, {}, false, 'pve-concurrent-change');
    this.name = 'ConcurrentChange';
  }
}

/** A create or clone named a VMID that exists (e.g. taken between `/cluster/nextid` and the create). */
export class VmidTaken extends PveApiError {
  constructor(
    where: RequestWhere,
    status: number,
    reason: string,
    paramErrors: Readonly<Record<string, string>>,
    readonly vmid: number | undefined,
  ) {
    super(where, status, reason, paramErrors, false, 'pve-vmid-taken');
    this.name = 'VmidTaken';
  }
}

export type PveTransportFailure = 'unreachable' | 'reset' | 'timeout' | 'tls' | 'fingerprint' | 'protocol';

/** No HTTP answer: connection refused, reset, timed out, TLS refused, or the pinned fingerprint differs. */
export class PveTransportError extends DriverError {
  constructor(
    message: string,
    readonly kind: PveTransportFailure,
    retryable: boolean,
    readonly errorCode?: string,
  ) {
    super(message, retryable, `pve-transport-${kind}`);
    this.name = 'PveTransportError';
  }
}

/** An asynchronous task ended with an exit status other than "OK"; carries the tail of its log. */
export class TaskFailed extends DriverError {
  constructor(
    readonly upid: string,
    readonly exitStatus: string,
    readonly logTail: readonly string[],
  ) {
    const log =
      logTail.length > 0 ? `\n  task log (last ${logTail.length} lines):\n    ${logTail.join('\n    ')}` : '';
    super(`task ${upid} failed: ${exitStatus}${log}`, false, 'pve-task-failed');
    this.name = 'TaskFailed';
  }
}

/** A guest-agent command ran and exited non-zero (or was killed by a signal). */
export class AgentCommandFailed extends DriverError {
  constructor(
    readonly vmid: number,
    readonly argv: readonly string[],
    readonly exitCode: number | undefined,
    readonly signal: number | undefined,
    readonly stderr: string,
  ) {
    const how = signal !== undefined ? `signal ${signal}` : `exit code ${exitCode ?? 'unknown'}`;
    const err = stderr.trim() ? `: ${stderr.trim().slice(-500)}` : '';
    super(
      `VM ${vmid}: guest agent command ${argv[0] ?? ''} failed with ${how}${err}`,
      false,
      'pve-agent-exec',
    );
    this.name = 'AgentCommandFailed';
  }
}

/** The answer had a shape the API description does not allow. */
export class PveProtocolError extends DriverError {
  constructor(message: string) {
    super(message, false, 'pve-protocol');
    this.name = 'PveProtocolError';
  }
}

const LOCK_TIMEOUT = /can't lock file '[^']*' - got timeout/;
const DIGEST_MISMATCH = /detected modified configuration - file changed by other user\?/;
const ALREADY_EXISTS = /\b(?:VM|CT) (\d+) already exists\b/;

/**
 * Classifies a non-2xx answer (pure). `body` is the response text: `{"data":null}` or
 * `{"data":null,"errors":{...}}`; Proxmox puts its message in the status line (`reason`).
 */
export function errorFromResponse(
  where: RequestWhere,
  status: number,
  reason: string,
  body: string,
  node?: string,
): PveApiError {
  const paramErrors = parseParamErrors(body);
  const text = [reason, ...Object.values(paramErrors)].join('\n');
  if (status === 401 || status === 403) return new PveAuthError(where, status, reason);
  if (status === 595) return new NodeOffline(where, reason, node);
  if (LOCK_TIMEOUT.test(text)) return new ConfigLocked(where, status, reason);
  if (DIGEST_MISMATCH.test(text)) return new ConcurrentChange(where, status, reason);
  const exists = ALREADY_EXISTS.exec(text);
  if (exists) return new VmidTaken(where, status, reason, paramErrors, Number(exists[1]));
  // 502/503/504 come from a proxy or a restarting pveproxy: the request was not processed.
  const transient = status === 502 || status === 503 || status === 504;
  return new PveApiError(where, status, reason, paramErrors, transient);
}

/** Proxmox's `errors` object: parameter name → message. Anything else yields `{}`. */
export function parseParamErrors(body: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const errors = (parsed as { errors?: unknown }).errors;
  if (typeof errors !== 'object' || errors === null) return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(errors)) out[key] = String(value);
  return out;
}
