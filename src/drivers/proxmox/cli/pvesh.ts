import { DriverError } from '../../errors.js';
import { check, parseJson } from './errors.js';
import type { CommandRunner } from './runner.js';

/**
 * `pvesh` (shell interface to the Proxmox VE API), as documented in pvesh(1): `pvesh get|create|set|delete
 * PATH [--param value ...] --output-format json`. With `--output-format json` pvesh prints the result as
 * one line of JSON; for API methods that return null it prints nothing, which is returned as `undefined`.
 * Output that is not JSON is a CliOutputError; a non-zero exit a CliCommandFailed (CliConfigLocked for a lock
 * timeout). Error messages name the method and path, never parameter values.
 */

export type PveshMethod = 'get' | 'create' | 'set' | 'delete';
export type PveshParams = Readonly<Record<string, string | number | boolean | undefined>>;

function apiPathArg(path: string): string {
  if (!/^\/[A-Za-z0-9_.:@/-]*$/.test(path) || path.split('/').includes('..')) {
    throw new DriverError(`invalid API path: ${JSON.stringify(path)}`);
  }
  return path;
}

/** `{a: 1, b: true, c: 'x'}` → `--a 1 --b 1 --c x` (booleans as 1/0, undefined left out). */
export function paramArgs(params: PveshParams): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(key) || key === 'output-format') {
      throw new DriverError(`invalid API parameter name: ${JSON.stringify(key)}`);
    }
    out.push(`--${key}`, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return out;
}

export class Pvesh {
  constructor(readonly runner: CommandRunner) {}

  async call(method: PveshMethod, path: string, params: PveshParams = {}): Promise<unknown> {
    const what = `pvesh ${method} ${apiPathArg(path)}`;
    const argv = ['pvesh', method, path, ...paramArgs(params), '--output-format', 'json'];
    const r = check(what, await this.runner.run(argv, { what }));
    return r.stdout.trim() === '' ? undefined : parseJson(what, r.stdout);
  }

  get(path: string, params?: PveshParams): Promise<unknown> {
    return this.call('get', path, params);
  }
  create(path: string, params?: PveshParams): Promise<unknown> {
    return this.call('create', path, params);
  }
  set(path: string, params?: PveshParams): Promise<unknown> {
    return this.call('set', path, params);
  }
  delete(path: string, params?: PveshParams): Promise<unknown> {
    return this.call('delete', path, params);
  }
}
