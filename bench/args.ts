/** One command-line flag as the bench parsers see it: `--flag value` or `--flag=value`. */
export interface Flag {
  readonly name: string;
  readonly arg: string;
  /** The flag's value (inline or the next argument); fails when there is none. */
  value(): string;
  /** `v` as an integer ≥ 1. */
  positive(v: string): number;
  /** The flag's value as an integer ≥ `min`. */
  int(min: number): number;
}

/** Walks the arguments once, handing each flag to `handle`; `fail` reports a bad one and exits. */
export function forEachFlag(
  argv: readonly string[],
  fail: (message: string) => never,
  handle: (f: Flag) => void,
): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? (arg.split('=', 2) as [string, string]) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${name} needs a value`);
      return v;
    };
    handle({
      name,
      arg,
      value,
      positive(v) {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) fail(`${name}: "${v}" is not a positive integer`);
        return n;
      },
      int(min) {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < min) fail(`${name}: "${v}" is not an integer ≥ ${min}`);
        return n;
      },
    });
  }
}
