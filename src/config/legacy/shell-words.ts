/**
 * The small POSIX-shell word splitter behind hook analysis: enough of the shell grammar for what real
 * post-renewal hooks use, reporting what it cannot follow instead of guessing.
 */

/** A word; keywords and `2>` only count when unquoted, so the literal (unquoted) prefix length is kept. */
export type Word = { text: string; literalUntil: number };
export type Redirect = { op: string; target: string };
export type SimpleCommand = { words: Word[]; redirects: Redirect[] };

const REDIRECTIONS = '&>> <<< <<- >> &> >& <& >| << <>'.split(' ');

/**
 * POSIX-ish word splitting straight into simple commands. Quotes and escapes are resolved; `$VAR`, `${..}`
 * and `$(..)` stay literal text, and command substitutions are collected so they get analysed too.
 */
export function parse(
  src: string,
  note: (problem: string) => void,
): { commands: SimpleCommand[]; substitutions: string[] } {
  const commands: SimpleCommand[] = [];
  const substitutions: string[] = [];
  let command: SimpleCommand = { words: [], redirects: [] };
  let redirect: string | undefined; // an operator still waiting for its target word
  let word: string | undefined; // undefined between words; '' is a real word (from `''`)
  let literalUntil = Infinity; // index of the word's first quoted character
  let i = 0;

  const append = (text: string, quoted: boolean, advance: number) => {
    if (word === undefined) [word, literalUntil] = ['', Infinity];
    if (quoted) literalUntil = Math.min(literalUntil, word.length);
    word += text;
    i += advance;
  };
  const endWord = (advance = 0) => {
    if (word !== undefined && redirect !== undefined) command.redirects.push({ op: redirect, target: word });
    else if (word !== undefined) command.words.push({ text: word, literalUntil });
    if (word !== undefined) redirect = undefined;
    word = undefined;
    i += advance;
  };
  const operator = (op: string) => {
    // `2>` is one operator only when the digits are an unquoted word touching it.
    const digits = word ?? '';
    const fd = '<>'.includes(op[0]!) && literalUntil === Infinity && /^\d+$/.test(digits) ? digits : '';
    if (fd) word = undefined;
    endWord(op.length);
    if (redirect !== undefined) note(`redirection "${redirect}" has no target`);
    redirect = /[<>]/.test(op) ? fd + op : undefined;
    if (redirect !== undefined || command.words.length + command.redirects.length === 0) return;
    commands.push(command);
    command = { words: [], redirects: [] };
  };
  const singleQuoted = () => {
    const close = src.indexOf("'", i + 1);
    if (close < 0) note(`unbalanced single quote at offset ${i}`);
    const end = close < 0 ? src.length : close;
    append(src.slice(i + 1, end), true, end + 1 - i);
  };
  const doubleQuoted = () => {
    const start = i;
    append('', true, 1);
    while (i < src.length && src[i] !== '"') {
      const [c, next = ''] = [src[i]!, src[i + 1]];
      if (c === '\\' && next !== '' && '$`"\\\n'.includes(next)) append(next === '\n' ? '' : next, true, 2);
      else if (c === '$' || c === '`') expansion(true);
      else append(c, true, 1);
    }
    if (i >= src.length) note(`unbalanced double quote at offset ${start}`);
    i++;
  };
  const escaped = () => {
    const next = src[i + 1];
    const isLineContinuation = next === '\n';
    if (isLineContinuation) i += 2;
    else append(next ?? '\\', next !== undefined, 2);
  };
  const expansion = (quoted: boolean) => {
    const opener = src[i] === '`' ? '`' : src.slice(i, i + 2);
    const close = expansionEnd(src, i, opener);
    if (close === undefined) return append('$', quoted, 1);
    if (close < 0) note(`unterminated ${opener} at offset ${i}`);
    const end = close < 0 ? src.length : close;
    const body = src.slice(i + opener.length, end);
    if (opener === '`' || (opener === '$(' && !body.startsWith('('))) substitutions.push(body); // not $((1+2))
    append(src.slice(i, end + 1), quoted, end + 1 - i);
  };

  while (i < src.length) {
    const c = src[i]!;
    if (c === '#' && word === undefined) i = src.includes('\n', i) ? src.indexOf('\n', i) : src.length;
    else if (c === "'") singleQuoted();
    else if (c === '"') doubleQuoted();
    else if (c === '\\') escaped();
    else if (c === '$' || c === '`') expansion(false);
    else if (c === '\n') operator(';');
    else if (';&|()<>'.includes(c)) operator(REDIRECTIONS.find((op) => src.startsWith(op, i)) ?? c);
    else if (c === ' ' || c === '\t' || c === '\r') endWord(1);
    else append(c, false, 1);
  }
  operator(';');
  return { commands, substitutions };
}

/** Index of the character closing the expansion at `at`; -1 if unterminated; undefined for a plain `$`. */
function expansionEnd(src: string, at: number, opener: string): number | undefined {
  if (opener === '`') return src.indexOf('`', at + 1);
  if (opener === '${') return src.indexOf('}', at + 2);
  if (opener !== '$(') return undefined;
  let depth = 1;
  for (let i = at + 2; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === "'")
      i = src.indexOf("'", i + 1); // `$(echo ')')` closes at the second paren
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
    if (i < 0) return -1;
  }
  return -1;
}
