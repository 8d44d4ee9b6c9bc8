/**
 * Compose v2's env-file reading (compose-go `dotenv`, v2 series): `KEY=value` statements, `export `
 * prefix, `#` comment lines. Unquoted values stop at ` #` and are interpolated; single-quoted values are
 * verbatim except that `\'` stands for a quote (a backslash before anything else stays); double-quoted
 * values take \n \r \t \\ \" \$ escapes and are interpolated. Quoted values may span lines.
 */

export function parseDotenv(text: string, lookup: (name: string) => string | undefined = () => undefined) {
  const out: Record<string, string> = {};
  const vars = (name: string) => out[name] ?? lookup(name);
  let i = 0;
  let line = 1;
  const skipBlank = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i]!)) if (text[i++] === '\n') line++;
      if (text[i] !== '#') return;
      while (i < text.length && text[i] !== '\n') i++;
    }
  };
  for (skipBlank(); i < text.length; skipBlank()) {
    if (text.startsWith('export ', i)) i += 'export '.length;
    const m = /^[ \t]*([A-Za-z0-9_.]+)[ \t]*([=:\n]|$)/.exec(text.slice(i));
    if (!m) {
      const c = /^[ \t]*[A-Za-z0-9_.]*(.)/s.exec(text.slice(i))?.[1] ?? '';
      throw new Error(`line ${line}: unexpected character "${c}" in variable name`);
    }
    i += m[0].length;
    const key = m[1]!;
    if (m[2] !== '=' && m[2] !== ':') {
      // A bare name takes the value from the environment compose runs in.
      if (m[2] === '\n') line++;
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    const quote = text[i];
    if (quote === "'" || quote === '"') {
      let raw = '';
      let j = i + 1;
      let closed = false;
      for (; j < text.length; j++) {
        const c = text[j]!;
        if (c === '\n') line++;
        if (c === '\\' && j + 1 < text.length) {
          // An escape pairs the backslash with the next character: `\\"` ends the value.
          const next = text[++j]!;
          raw += next !== quote ? c + next : quote === '"' ? '\\"' : quote;
          continue;
        }
        if (c === quote) {
          closed = true;
          break;
        }
        raw += c;
      }
      if (!closed) throw new Error(`line ${line}: unterminated quoted value ${text.slice(i).split('\n')[0]}`);
      out[key] = quote === '"' ? interpolate(unescape(raw), vars) : raw;
      i = j + 1;
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const end = text.indexOf('\n', i);
    let value = text.slice(i, end < 0 ? text.length : end);
    i = end < 0 ? text.length : end;
    const hash = value.indexOf(' #');
    if (hash >= 0) value = value.slice(0, hash);
    out[key] = interpolate(value.trimEnd(), vars);
  }
  return out;
}

function unescape(raw: string): string {
  return raw.replace(/\\([nrt"\\$])/g, (_m, c: string) =>
    c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === '$' ? '$$' : c,
  );
}

/**
 * Compose's interpolation: $$ is a dollar; ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
 * ${VAR?error}, $VAR. `missing` hears of every variable that is not set (compose warns about them).
 */
export function interpolate(
  text: string,
  vars: (name: string) => string | undefined,
  missing: (name: string) => void = () => undefined,
): string {
  return text.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_m, dollar: string, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (dollar === '$') return '$';
      const name = (braced ?? bare)!;
      const value = vars(name);
      const empty = value === undefined || (op?.startsWith(':') === true && value === '');
      if (op?.endsWith('-') && empty) return arg ?? '';
      if (op?.endsWith('?') && empty)
        throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
      if (value === undefined) missing(name);
      return value ?? '';
    },
  );
}
