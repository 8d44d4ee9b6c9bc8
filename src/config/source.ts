import { readFileSync, statSync } from 'node:fs';
import {
  findNodeAtLocation,
  parse as parseLoose,
  parseTree,
  printParseErrorCode,
  type Node,
  type ParseError,
} from 'jsonc-parser';
import { splitPointer } from './diagnostics.js';

/** Config files are small; anything past this is almost certainly not a config file. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Real configs nest about 8 deep; a limit keeps hostile input from exhausting the stack. */
export const MAX_JSON_DEPTH = 64;

export class SourceError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** A loaded text file that can map a JSON pointer or an offset back to line:column. */
export class SourceFile {
  private lineStarts?: number[];
  private tree?: Node;

  constructor(
    readonly path: string,
    readonly displayPath: string,
    readonly text: string,
  ) {}

  position(offset: number): { line: number; column: number } {
    const starts = (this.lineStarts ??= computeLineStarts(this.text));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  }

  /** Offset of the value at a JSON pointer, or of its nearest existing ancestor. Parses on first use only. */
  offsetOf(pointer: string): number {
    const tree = (this.tree ??= parseTree(this.text, [], { allowTrailingComma: false }));
    if (!tree) return 0;
    const path: Array<string | number> = [];
    let best = tree.offset;
    for (const seg of splitPointer(pointer)) {
      const parent = findNodeAtLocation(tree, path);
      path.push(parent?.type === 'array' && /^\d+$/.test(seg) ? Number(seg) : seg);
      const node = findNodeAtLocation(tree, path);
      if (!node) break;
      // Point at the property key when there is one: that is where an editor puts the cursor.
      best = node.parent?.type === 'property' ? node.parent.offset : node.offset;
    }
    return best;
  }

  locate(pointer: string): { line: number; column: number } {
    return this.position(this.offsetOf(pointer));
  }
}

function computeLineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** Reads a text file with the limits every config file gets: size, encoding, no binary. */
export function readSource(path: string, displayPath: string): SourceFile {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new SourceError(displayPath, 'is not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof SourceError) throw e;
    throw new SourceError(displayPath, describeFsError(e));
  }
  if (size > MAX_CONFIG_BYTES) {
    throw new SourceError(
      displayPath,
      `is ${formatBytes(size)}; config files are limited to ${formatBytes(MAX_CONFIG_BYTES)}`,
    );
  }
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SourceError(displayPath, describeFsError(e));
  }
  const nul = buf.indexOf(0);
  if (nul >= 0)
    throw new SourceError(
      displayPath,
      `contains binary data (a NUL byte at offset ${nul}); expected UTF-8 text`,
      nul,
    );
  const text = new TextDecoder('utf-8', { fatal: false }).decode(buf);
  const bad = text.indexOf('\uFFFD');
  if (bad >= 0) throw new SourceError(displayPath, `is not valid UTF-8 text (at character ${bad})`, bad);
  return new SourceFile(path, displayPath, text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
}

/** Parses strict JSON. Fast path is JSON.parse; on failure the tolerant parser finds the exact spot. */
export function parseJson(src: SourceFile): unknown {
  const depthProblem = findExcessiveDepth(src.text, MAX_JSON_DEPTH);
  if (depthProblem !== undefined) {
    throw new SourceError(src.displayPath, `nests deeper than ${MAX_JSON_DEPTH} levels`, depthProblem);
  }
  try {
    return JSON.parse(src.text);
  } catch {
    const errors: ParseError[] = [];
    parseLoose(src.text, errors, { allowTrailingComma: false, disallowComments: true });
    const first = errors[0];
    if (first)
      throw new SourceError(
        src.displayPath,
        `invalid JSON: ${describeParseError(first.error)}`,
        first.offset,
      );
    throw new SourceError(src.displayPath, 'invalid JSON', 0);
  }
}

function describeParseError(code: number): string {
  const name = printParseErrorCode(code);
  return name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** Returns the offset where nesting first exceeds `limit`, ignoring brackets inside strings. */
function findExcessiveDepth(text: string, limit: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) return i;
    } else if (c === 125 || c === 93) depth--;
  }
  return undefined;
}

export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    case 'EISDIR':
      return 'is a directory, expected a file';
    default:
      return `cannot be read (${code ?? String(e)})`;
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}
