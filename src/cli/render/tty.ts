/**
 * For a terminal: a live block (header with progress, the running nodes) redrawn in place at most every
 * FRAME_MS; finished lines (changes, failures, skips, the summary) scroll above it and stay.
 */
import type { EngineEvent } from '../../engine/events.js';
import { styleFor, type Style } from '../style.js';
import { WORD_COLUMN, eventLine, formatDuration, lineText, type Line, type Tone } from './format.js';
import { RunState, type RunningNode } from './state.js';
import { displayWidth, cut, sanitize, wrap } from './text.js';
import type { RenderOptions, RenderStream, Renderer } from './types.js';

export const FRAME_MS = 100;
const MAX_RUNNING_LINES = 10;
const MAX_WRAPPED_LINES = 6;
const CSI = '\x1b[';

type Segment = [text: string, tone: Tone];

export class TtyRenderer implements Renderer {
  private readonly now: () => number;
  private readonly state: RunState;
  private readonly style: Style;
  private pending: string[] = [];
  private blockLines = 0;
  private lastBlock = '';
  private lastDraw = -Infinity;
  private live = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: RenderStream,
    private readonly opts: RenderOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.state = new RunState(this.now);
    this.style = styleFor(stream as NodeJS.WriteStream, opts.env ?? process.env);
  }

  handle(e: EngineEvent): void {
    if (this.closed) return;
    this.state.apply(e);
    const line = this.permanentLine(e);
    if (line) this.pending.push(...this.wrapLine(line));
    if (e.type === 'run-end') {
      this.live = false;
      this.stopTimer();
      this.render();
      return;
    }
    this.live = true;
    this.timer ??= setInterval(() => this.render(), FRAME_MS).unref();
    if (e.type === 'interrupt' || this.now() - this.lastDraw >= FRAME_MS) this.render();
  }

  flush(): void {
    this.render();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    if (this.state.runStarted && !this.state.ended)
      this.pending.push(...this.wrapLine(this.state.incompleteSummary()));
    this.live = false;
    this.render();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private get width(): number {
    const cols = this.stream.columns;
    // One column short of the edge: a full-width line leaves some terminals in a pending-wrap state.
    return Math.max(1, (cols !== undefined && Number.isFinite(cols) && cols > 0 ? cols : 80) - 1);
  }

  /** Lines that stay on screen: node ends other than unchanged (or all, verbose), interrupt, summary, driver calls (verbose). */
  private permanentLine(e: EngineEvent): Line | undefined {
    if (e.type !== 'node-end' && e.type !== 'interrupt' && e.type !== 'run-end' && e.type !== 'driver-call')
      return undefined;
    return eventLine(e, {
      verbose: Boolean(this.opts.verbose),
      command: this.state.command,
      dryRun: this.state.dryRun,
    });
  }

  private wrapLine(l: Line): string[] {
    const indent = l.word === '' ? 2 : WORD_COLUMN;
    const lines = wrap(lineText(l), this.width, indent, MAX_WRAPPED_LINES);
    if (l.word === '') return lines.map((s) => this.paint(s, l.tone));
    return lines.map((s, i) =>
      i === 0 && s.startsWith(l.word) ? this.paint(l.word, l.tone) + s.slice(l.word.length) : s,
    );
  }

  private paint(s: string, tone: Tone): string {
    return tone === 'plain' ? s : this.style[tone](s);
  }

  /** Fits segments into the width (ending in "…" if cut), colouring after cutting so no escape is split. */
  private fit(segments: Segment[]): string {
    const width = this.width;
    const total = segments.reduce((n, [s]) => n + displayWidth(s), 0);
    let room = total <= width ? width : width - 1;
    let out = '';
    for (const [s, tone] of segments) {
      const w = displayWidth(s);
      if (w <= room) {
        out += this.paint(s, tone);
        room -= w;
      } else {
        out += this.paint(cut(s, room), tone);
        break;
      }
    }
    return total <= width ? out : `${out}…`;
  }

  private block(): string[] {
    if (!this.live) return [];
    const s = this.state;
    const progress = `${s.done}/${s.total ?? '?'}`;
    const head: Segment[] = [[sanitize(s.command) || 'phoenix', 'bold']];
    if (s.phase) head.push([`  ${sanitize(s.phase)}`, 'dim']);
    head.push([`  ${progress}`, 'plain']);
    head.push([`  ${formatDuration(s.elapsed())}`, 'dim']);
    if (s.interrupted !== undefined) head.push(['  interrupted', 'yellow']);
    // The bar comes last so that a long command name squeezes the bar, not the numbers.
    const used = head.reduce((n, [t]) => n + displayWidth(t), 0);
    const barWidth = Math.min(Math.max(10, Math.floor(this.width / 3)), this.width - used - 2);
    if (s.total !== undefined && s.total > 0 && barWidth >= 8) {
      const filled = Math.round(barWidth * Math.min(1, s.done / s.total));
      head.push(['  ', 'plain'], ['█'.repeat(filled), 'green'], ['░'.repeat(barWidth - filled), 'dim']);
    }
    const lines = [this.fit(head)];
    const rows = this.stream.rows;
    const max = Math.max(
      1,
      Math.min(MAX_RUNNING_LINES, rows !== undefined && rows > 3 ? rows - 3 : MAX_RUNNING_LINES),
    );
    const running = [...s.running.values()];
    const shown = running.length > max ? running.slice(0, max - 1) : running;
    for (const n of shown) lines.push(this.fit(this.runningLine(n)));
    if (shown.length < running.length)
      lines.push(this.fit([[`  … and ${running.length - shown.length} more running`, 'dim']]));
    return lines;
  }

  private runningLine(n: RunningNode): Segment[] {
    const seg: Segment[] = [
      [`  ${sanitize(n.id)}`, 'bold'],
      [`  ${sanitize(n.action)}`, 'plain'],
      [`  ${formatDuration(this.now() - n.since)}`, 'dim'],
    ];
    if (n.wait)
      seg.push([
        `  awaiting "${sanitize(n.wait.awaited)}" (deadline ${formatDuration(n.wait.deadlineMs)})`,
        'dim',
      ]);
    if (n.retry) seg.push([`  retry ${sanitize(n.retry.attempt)}: ${sanitize(n.retry.error)}`, 'yellow']);
    return seg;
  }

  /** Erases the previous live block, prints pending permanent lines, draws the block again; one write. */
  private render(): void {
    const block = this.block();
    const text = block.join('\n');
    if (this.pending.length === 0 && text === this.lastBlock) return;
    let out = this.blockLines > 0 ? `${CSI}${this.blockLines}A${CSI}J` : '';
    for (const l of this.pending) out += `${l}\n`;
    for (const l of block) out += `${l}\n`;
    this.stream.write(out);
    this.pending = [];
    this.lastBlock = text;
    this.blockLines = block.length;
    this.lastDraw = this.now();
  }
}
