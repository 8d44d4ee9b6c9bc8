import { DriverError } from '../../errors.js';
import type { RunResult } from './runner.js';

/**
 * Typed failures of the Proxmox CLI tools. Messages name the command by a short description the wrapper
 * builds (`pct push 101 /etc/x`), never by its full argv: arguments may hold file contents or passwords.
 * The text after the colon is the tool's own stderr, trimmed.
 */

/** A pct/qm/pvesh command exited non-zero. */
export class CliCommandFailed extends DriverError {
  constructor(
    readonly what: string,
    readonly exitCode: number,
    readonly stderr: string,
    retryable = false,
    code = 'pve-cli',
  ) {
    super(`${what} failed (exit ${exitCode}): ${stderr || '(no error output)'}`, retryable, code);
    this.name = 'CliCommandFailed';
  }
}

/**
 * "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout": another writer held the guest's
 * config lock for the whole lock wait (Proxmox waits 10 s). Retryable with backoff.
 */
export class CliConfigLocked extends CliCommandFailed {
  constructor(what: string, exitCode: number, stderr: string) {
    super(what, exitCode, stderr, true, 'pve-config-locked');
    this.name = 'CliConfigLocked';
  }
}

/** The command succeeded but its output is not what the documented format says (JSON that does not parse, ...). */
export class CliOutputError extends DriverError {
  constructor(
    readonly what: string,
    detail: string,
  ) {
    super(`${what}: unexpected output: ${detail}`, false, 'pve-cli-output');
    this.name = 'CliOutputError';
  }
}

const LOCK_TIMEOUT = /can't lock file '[^']*' - got timeout/;

export function isLockTimeout(stderr: string): boolean {
  return LOCK_TIMEOUT.test(stderr);
}

/** The error for a failed result: a lock timeout is `CliConfigLocked`, anything else `CliCommandFailed`. */
export function failure(what: string, r: RunResult): CliCommandFailed {
  const stderr = r.stderr.trim();
  return isLockTimeout(stderr)
    ? new CliConfigLocked(what, r.exitCode, stderr)
    : new CliCommandFailed(what, r.exitCode, stderr);
}

/** Returns the result when the command exited 0, throws the typed failure otherwise. */
export function check(what: string, r: RunResult): RunResult {
  if (r.exitCode !== 0) throw failure(what, r);
  return r;
}

/** Parses a tool's JSON output; a parse failure is a CliOutputError, never ignored. */
export function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // The output itself is not quoted: it may be file content or hold secrets.
    throw new CliOutputError(what, `not JSON (${(e as Error).message}; ${text.length} characters)`);
  }
}
