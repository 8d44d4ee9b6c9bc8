import { Die } from './state.js';

/**
 * Argument parsing the way Proxmox's CLIHandler does it: positional arguments in their fixed order, `--name
 * value` options anywhere, and everything after `--` left as extra arguments.
 */
export interface Parsed {
  readonly positional: string[];
  readonly options: Record<string, string>;
  readonly extra: string[];
}

export function parseArgs(args: readonly string[], known: readonly string[]): Parsed {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return { positional, options, extra: args.slice(i + 1) };
    if (a.startsWith('--') || (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a))) {
      const name = a.replace(/^--?/, '');
      if (!known.includes(name)) throw new Die(`400 unable to parse option\nUnknown option: ${name}`);
      const value = args[i + 1];
      if (value === undefined) throw new Die(`400 unable to parse option\nMissing value for option: ${name}`);
      options[name] = value;
      i++;
    } else positional.push(a);
  }
  return { positional, options, extra: [] };
}

/** A boolean option as PVE parses it (1/0, yes/no, on/off, true/false). */
export function boolOption(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (/^(1|yes|on|true)$/i.test(value)) return true;
  if (/^(0|no|off|false)$/i.test(value)) return false;
  throw new Die(`400 Parameter verification failed.\nvalue: type check ('boolean') failed - got '${value}'`);
}
