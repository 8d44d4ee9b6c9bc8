import type { EngineEvent } from '../../engine/events.js';

export type RenderMode = 'tty' | 'plain' | 'json';

/** Consumes the engine's event stream and shows it to a person or a program. */
export interface Renderer {
  handle(e: EngineEvent): void;
  /** Write whatever is pending now, ignoring the redraw throttle (a no-op for line-oriented modes). */
  flush(): void;
  /** Final output (summary, cursor on a fresh line); stops timers. Idempotent; later events are ignored. */
  close(): void;
}

export type RenderStream = NodeJS.WritableStream & { columns?: number; rows?: number; isTTY?: boolean };

export interface RenderOptions {
  /** Also show unchanged nodes and driver calls. */
  verbose?: boolean;
  /** For NO_COLOR / FORCE_COLOR / TERM; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds clock for elapsed and running times and the redraw throttle; defaults to Date.now. */
  now?: () => number;
  /** Where json mode writes human notices (the interrupt message) so stdout stays JSON Lines; defaults to process.stderr. */
  stderr?: NodeJS.WritableStream;
}
