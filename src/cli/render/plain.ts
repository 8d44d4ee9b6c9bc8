/** For logs, pipes and CI: one timestamped line per meaningful event, never an ANSI code. */
import type { EngineEvent } from '../../engine/events.js';
import { eventLine, lineText, type Line } from './format.js';
import { RunState } from './state.js';
import type { RenderOptions, RenderStream, Renderer } from './types.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

export class PlainRenderer implements Renderer {
  private readonly now: () => number;
  private readonly state: RunState;
  private closed = false;

  constructor(
    private readonly stream: RenderStream,
    private readonly opts: RenderOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.state = new RunState(this.now);
  }

  handle(e: EngineEvent): void {
    if (this.closed) return;
    this.state.apply(e);
    const line = eventLine(e, {
      verbose: Boolean(this.opts.verbose),
      command: this.state.command,
      dryRun: this.state.dryRun,
    });
    // The event's own timestamp, so this log and the journal agree; the clock only if it is missing or odd.
    if (line) this.write(typeof e.at === 'string' && ISO.test(e.at) ? e.at : this.stamp(), line);
  }

  flush(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.state.runStarted && !this.state.ended) this.write(this.stamp(), this.state.incompleteSummary());
  }

  private stamp(): string {
    const d = new Date(this.now());
    return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString();
  }

  private write(at: string, line: Line): void {
    this.stream.write(`${at} ${lineText(line)}\n`);
  }
}
