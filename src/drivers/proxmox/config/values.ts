import type { Origin } from '../../../config/diagnostics.js';
import { ProxmoxConfigError } from './errors.js';

/**
 * Proxmox option strings ("property strings") are `key=value` pairs joined by commas, one option per
 * line of /etc/pve/{lxc,qemu-server}/<vmid>.conf. A value may therefore contain no comma (pair
 * separator), no equals sign where it would be read as a key (the default-key value), no whitespace
 * (list separators, and the `key: value` line format trims) and no line break or control character.
 */

export interface ValueContext {
  readonly origin?: Origin;
  /** Proxmox option the value goes into, for the message. */
  readonly option: string;
  /** What the value is, for the message: "host path", "bridge"… */
  readonly what: string;
}

const FORBIDDEN: ReadonlyArray<readonly [RegExp, string]> = [
  [/[\r\n]/, 'a line break (the config file is one option per line)'],
  // eslint-disable-next-line no-control-regex
  [/[\u0000-\u001f\u007f]/, 'a control character'],
  [/,/, 'a comma (the separator of an option string)'],
  [/\s/, 'whitespace'],
  [/=/, 'an equals sign (it would be read as key=value)'],
];

/** Checks one value for an option string; `alsoForbid` adds characters (":" in a bind mount's host path). */
export function checkValue(
  value: string,
  ctx: ValueContext,
  alsoForbid: ReadonlyArray<readonly [RegExp, string]> = [],
): string {
  if (value === '') throw new ProxmoxConfigError(ctx.origin, ctx.option, `${ctx.what} is empty`);
  for (const [re, why] of [...FORBIDDEN, ...alsoForbid]) {
    if (re.test(value))
      throw new ProxmoxConfigError(
        ctx.origin,
        ctx.option,
        `${ctx.what} ${JSON.stringify(value)} cannot be written into the option string: it contains ${why}`,
      );
  }
  return value;
}

/** Joins checked parts into an option string; undefined parts are left out. */
export function optionString(parts: ReadonlyArray<string | undefined>): string {
  return parts.filter((p): p is string => p !== undefined).join(',');
}

/**
 * Splits an option string into its default-key value (the first part without "=") and its key=value pairs.
 * Tolerant: unknown keys are kept, a repeated key keeps the last value (as Proxmox's parser would refuse it,
 * but reading never fails on it).
 */
export function parseOptionString(s: string): {
  readonly first?: string;
  readonly pairs: Map<string, string>;
} {
  const pairs = new Map<string, string>();
  let first: string | undefined;
  s.split(',').forEach((part, i) => {
    const p = part.trim();
    if (!p) return;
    const eq = p.indexOf('=');
    if (eq < 0) {
      if (i === 0) first = p;
      else pairs.set(p, '');
      return;
    }
    pairs.set(p.slice(0, eq), p.slice(eq + 1));
  });
  return { first, pairs };
}

/** Proxmox disk sizes ("32G", "512M", "1T", "4096K", a bare number of bytes) in GiB. */
export function diskSizeGb(size: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(size.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'T':
      return n * 1024;
    case 'G':
      return n;
    case 'M':
      return n / 1024;
    case 'K':
      return n / 1024 / 1024;
    default:
      return n / 1024 ** 3;
  }
}

/** Proxmox booleans in a config: 1/0 (the API also returns numbers). */
export function parseBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true' || v === 'on' || v === 'yes') return true;
  if (v === '0' || v === 'false' || v === 'off' || v === 'no') return false;
  return undefined;
}

/** A non-negative integer, or undefined. */
export function parseIntStrict(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

const DNS_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DNS_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);

/** LXC `hostname` and QEMU `name` are Proxmox `dns-name`s: letters, digits, "-" and ".", no "_". */
export function checkDnsName(name: string, ctx: ValueContext): string {
  if (!DNS_NAME.test(name) || name.length > 255)
    throw new ProxmoxConfigError(
      ctx.origin,
      ctx.option,
      `${ctx.what} ${JSON.stringify(name)} is not a valid DNS name (letters, digits, "-" and "." only; Proxmox refuses it)`,
    );
  return name;
}
