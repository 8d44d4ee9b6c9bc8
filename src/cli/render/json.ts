/** JSON Lines: each event exactly as emitted, one object per line. */
import type { EngineEvent } from '../../engine/events.js';
import { interruptMessage } from './format.js';
import type { RenderOptions, RenderStream, Renderer } from './types.js';

export class JsonRenderer implements Renderer {
  private closed = false;

  constructor(
    private readonly stream: RenderStream,
    private readonly opts: RenderOptions,
  ) {}

  handle(e: EngineEvent): void {
    if (this.closed || (e.type === 'driver-call' && !this.opts.verbose)) return;
    this.stream.write(`${JSON.stringify(e)}\n`);
    // The human notice goes to stderr so that stdout stays parseable.
    if (e.type === 'interrupt') (this.opts.stderr ?? process.stderr).write(`${interruptMessage(e)}\n`);
  }

  flush(): void {}

  close(): void {
    this.closed = true;
  }
}
