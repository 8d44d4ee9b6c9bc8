/**
 * Command-line parsing as cobra/pflag does it for the docker CLI and compose: `--flag value`,
 * `--flag=value`, short aliases, repeated flags, `--` ending the flags. An unknown flag is an error with
 * cobra's text.
 */

export interface Parsed {
  readonly flags: ReadonlyMap<string, readonly string[]>;
  readonly args: readonly string[];
}

export interface FlagSpec {
  /** Spelling (`--driver`, `-d`) → canonical name, for flags that take a value. */
  readonly valued?: Readonly<Record<string, string>>;
  /** The same for boolean flags. */
  readonly bools?: Readonly<Record<string, string>>;
  /** Stop at the first positional argument (a subcommand follows). */
  readonly interspersed?: boolean;
}

export function parseFlags(argv: readonly string[], spec: FlagSpec): Parsed | { error: string } {
  const flags = new Map<string, string[]>();
  const args: string[] = [];
  const put = (name: string, value: string) => flags.set(name, [...(flags.get(name) ?? []), value]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (spec.interspersed === false) {
        args.push(...argv.slice(i));
        break;
      }
      args.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const spelling = eq > 0 ? a.slice(0, eq) : a;
    const valued = spec.valued?.[spelling];
    const bool = spec.bools?.[spelling];
    if (valued !== undefined) {
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) return { error: `flag needs an argument: ${spelling}` };
      put(valued, value);
    } else if (bool !== undefined) {
      put(bool, eq > 0 ? a.slice(eq + 1) : 'true');
    } else {
      return { error: `unknown ${spelling.startsWith('--') ? 'flag' : 'shorthand flag'}: ${spelling}` };
    }
  }
  return { flags, args };
}

export const last = (p: Parsed, name: string) => p.flags.get(name)?.at(-1);
export const all = (p: Parsed, name: string) => p.flags.get(name) ?? [];
export const has = (p: Parsed, name: string) => (p.flags.get(name)?.at(-1) ?? 'false') !== 'false';
