/**
 * Just enough reading of docker-compose.yml text to point at lines: the parsed model keeps no positions.
 * Pure string work on the text the loader already read.
 */

export interface VariableUse {
  readonly name: string;
  /** Offset of the `$` in the file. */
  readonly offset: number;
}

/**
 * Variables compose interpolates without a fallback: `$VAR`, `${VAR}`, `${VAR:?msg}`, `${VAR?msg}`.
 * `${VAR:-x}`, `${VAR-x}` and `${VAR:+x}` have a value when VAR is unset, `$$` is a literal dollar, and
 * comments are not interpolated.
 */
export function requiredVariables(text: string): VariableUse[] {
  const uses: VariableUse[] = [];
  let lineStart = 0;
  for (const line of text.split('\n')) {
    const code = line.slice(0, commentStart(line));
    for (let i = code.indexOf('$'); i >= 0; i = code.indexOf('$', i + 1)) {
      if (code[i + 1] === '$') {
        i++;
        continue;
      }
      const braced = code[i + 1] === '{';
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(code.slice(i + (braced ? 2 : 1)));
      if (!m) continue;
      const after = braced ? code.slice(i + 2 + m[0].length) : '';
      if (braced && /^:?[-+]/.test(after)) continue;
      uses.push({ name: m[0], offset: lineStart + i });
    }
    lineStart += line.length + 1;
  }
  return uses;
}

/** Where a YAML comment starts: `#` at the start or after a blank, outside quotes. */
function commentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) return i;
  }
  return line.length;
}

/**
 * Offset of `key:` directly inside the top-level `section:` mapping (e.g. volumes → portainer_data), or of
 * the section itself when the key is not written there; undefined when the section is absent.
 */
export function topLevelEntryOffset(text: string, section: string, key: string): number | undefined {
  let offset = 0;
  let sectionAt: number | undefined;
  let entryIndent: number | undefined; // the indentation of the section's own keys, not of their values
  for (const line of text.split('\n')) {
    const indent = /^\s*/.exec(line)![0].length;
    const blank = line.trim() === '' || line.trim().startsWith('#');
    if (sectionAt === undefined) {
      if (new RegExp(`^${section}:\\s*(#.*)?$`).test(line)) sectionAt = offset;
    } else if (!blank && indent === 0) {
      return sectionAt; // the section ended without the key
    } else if (!blank) {
      entryIndent ??= indent;
      const m = /^\s+(["']?)([^"':#]+)\1:/.exec(line);
      if (indent === entryIndent && m && m[2]!.trim() === key) return offset + indent;
    }
    offset += line.length + 1;
  }
  return sectionAt;
}
