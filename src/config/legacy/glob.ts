/** Shell glob match where `*` and `?` stay inside one path segment, as in pathname expansion. */
export function pathMatches(pattern: string, path: string): boolean {
  const patternSegments = pattern.split('/');
  const pathSegments = path.split('/');
  if (patternSegments.length !== pathSegments.length) return false;
  return patternSegments.every((segment, i) => segmentMatches(segment, pathSegments[i]!));
}

function segmentMatches(pattern: string, name: string): boolean {
  if (name.startsWith('.') && !/^\\?\./.test(pattern)) return false; // globs never match a leading dot
  let [p, n, starP, starN] = [0, 0, -1, 0];
  while (n < name.length) {
    const matched = matchOne(pattern, p, name[n]!);
    if (pattern[p] === '*') [starP, starN, p] = [p + 1, n, p + 1];
    else if (matched >= 0) [p, n] = [matched, n + 1];
    else if (starP < 0) return false;
    else [p, n, starN] = [starP, starN + 1, starN + 1]; // let the last `*` swallow one more character
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Pattern index after matching one character at `p`, or -1. */
function matchOne(pattern: string, p: number, c: string): number {
  const token = pattern[p];
  if (token === '?') return p + 1;
  if (token === '\\' && p + 1 < pattern.length) return pattern[p + 1] === c ? p + 2 : -1;
  if (token === '[') {
    const bodyStart = p + 1 + (pattern[p + 1] === '!' || pattern[p + 1] === '^' ? 1 : 0);
    const close = pattern.indexOf(']', bodyStart + 1); // a `]` right after `[` or `[!` is a member
    if (close > 0) return bracketHas(pattern.slice(p + 1, close), c) ? close + 1 : -1;
  }
  return token === c ? p + 1 : -1;
}

function bracketHas(body: string, c: string): boolean {
  const negated = body[0] === '!' || body[0] === '^';
  let found = false;
  for (let i = negated ? 1 : 0; i < body.length; i++) {
    const isRange = body[i + 1] === '-' && i + 2 < body.length;
    found ||= isRange ? body[i]! <= c && c <= body[i + 2]! : body[i] === c;
    if (isRange) i += 2;
  }
  return found !== negated;
}
