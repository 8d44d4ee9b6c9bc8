import { DriverError } from '../../errors.js';

/**
 * The one place in Phoenix that builds a shell string, and why: OpenSSH sends the remote command as a single
 * string that the remote user's login shell parses (`$SHELL -c STRING`). There is no argv channel in the SSH
 * protocol. So each argv element is quoted for a POSIX shell and the elements are joined with spaces; the
 * remote shell then hands exactly the original argv to the program. Nothing else may use this.
 *
 * Quoting rule: wrap every element in single quotes, and write each single quote inside it as `'\''` (close
 * the quote, an escaped quote, reopen). Inside single quotes a POSIX shell treats every byte literally, so
 * spaces, `$`, backquotes, backslashes, `*`, `~`, newlines and non-ASCII text survive unchanged. Every element
 * is quoted (even "safe" ones), so there is no "looks safe" heuristic to get wrong. The only string that cannot
 * be passed is one containing a NUL byte (argv strings end at NUL), which is refused.
 *
 * csh-family login shells treat `!` and newlines differently; Proxmox hosts use bash or dash (POSIX), which
 * is what the tests verify against (`sh -c`).
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new DriverError('an argument for a remote command contains a NUL byte');
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The remote command string for an argv: every element quoted, joined by single spaces. */
export function remoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new DriverError('empty argv');
  return argv.map(shellQuote).join(' ');
}
