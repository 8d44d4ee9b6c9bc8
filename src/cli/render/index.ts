/** Renderers for the engine's event stream: a live terminal view, plain log lines, or JSON Lines. */
import { JsonRenderer } from './json.js';
import { PlainRenderer } from './plain.js';
import { TtyRenderer } from './tty.js';
import type { RenderMode, RenderOptions, RenderStream, Renderer } from './types.js';

export type { RenderMode, RenderOptions, RenderStream, Renderer } from './types.js';
export { formatDuration, summaryLine, interruptMessage } from './format.js';

/** json if asked; tty if the stream is a terminal that can move its cursor; otherwise plain. */
export function chooseMode(
  opts: { json?: boolean },
  stream: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv = process.env,
): RenderMode {
  if (opts.json) return 'json';
  return stream.isTTY && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export function createRenderer(mode: RenderMode, stream: RenderStream, opts: RenderOptions = {}): Renderer {
  switch (mode) {
    case 'json':
      return new JsonRenderer(stream, opts);
    case 'plain':
      return new PlainRenderer(stream, opts);
    case 'tty':
      return new TtyRenderer(stream, opts);
  }
}
