/** Terminal text helpers: neutralise control characters, measure display width, truncate and wrap. */

// C0/C1 controls (ESC among them), DEL, line/paragraph separators and bidi overrides/isolates: any of these in
// an event field could break the one-line-per-event layout, move the cursor or reorder what the user reads.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const MAX_FIELD = 2000;

/** One printable line from untrusted text: whitespace controls become spaces, other controls U+FFFD; capped. */
export function sanitize(value: unknown, max = MAX_FIELD): string {
  const s = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  const clean = s.replace(UNSAFE, (c) => (c === '\n' || c === '\r' || c === '\t' ? ' ' : '\uFFFD'));
  if (clean.length <= max) return clean;
  let head = clean.slice(0, max);
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return `${head}… (${clean.length - head.length} more characters)`;
}

function charWidth(cp: number): number {
  if (cp < 0x300) return 1;
  if ((cp >= 0x300 && cp <= 0x36f) || cp === 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  )
    return 2;
  return 1;
}

/** Columns the (ANSI-free) string occupies on a terminal. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0) ?? 0);
  return w;
}

/** The longest prefix of s that fits in width columns. */
export function cut(s: string, width: number): string {
  let w = 0;
  let out = '';
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0) ?? 0);
    if (w + cw > width) break;
    w += cw;
    out += ch;
  }
  return out;
}

/** s if it fits in width columns, else a prefix ending in "…" that does. */
export function truncate(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  return width <= 0 ? '' : `${cut(s, width - 1)}…`;
}

/**
 * Word-wraps s to width columns; continuation lines are indented. At most maxLines lines; the last is
 * truncated with "…" if text remains.
 */
export function wrap(s: string, width: number, indent: number, maxLines: number): string[] {
  const lines: string[] = [];
  let rest = s;
  while (rest !== '') {
    const pad = lines.length === 0 || indent >= width ? '' : ' '.repeat(indent);
    const avail = Math.max(1, width - pad.length);
    if (displayWidth(rest) <= avail) {
      lines.push(pad + rest);
      break;
    }
    if (lines.length === maxLines - 1) {
      lines.push(pad + truncate(rest, avail));
      break;
    }
    let head = cut(rest, avail);
    if (head === '') head = Array.from(rest)[0] ?? rest;
    const space = head.lastIndexOf(' ');
    if (space > head.length / 2) head = head.slice(0, space);
    lines.push(pad + head.trimEnd());
    rest = rest.slice(head.length).trimStart();
  }
  return lines;
}
