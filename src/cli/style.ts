/** Minimal ANSI styling that honours NO_COLOR, FORCE_COLOR and whether the stream is a terminal. */
export interface Style {
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function styleFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): Style {
  const on =
    env.NO_COLOR === undefined || env.NO_COLOR === ''
      ? env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0'
        ? true
        : Boolean(stream.isTTY) && env.TERM !== 'dumb'
      : false;
  const wrap = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return {
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    green: wrap(32, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}
