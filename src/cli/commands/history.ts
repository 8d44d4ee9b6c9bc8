import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, type ActionRecord, type RunRecord } from '../../engine/journal.js';
import { plural } from '../diagnostics.js';
import { EXIT } from '../exit-codes.js';
import { styleFor, type Style } from '../style.js';
import { formatDuration } from '../render/format.js';

export interface HistoryOptions {
  stateDir: string;
  json?: boolean;
  limit?: number;
}

const DEFAULT_LIMIT = 20;
const COMMAND_COLUMN_CHARS = 48;

interface Cell {
  text: string;
  colour?: (s: string) => string;
  alignRight?: boolean;
}

/** `phoenix history [run-id|prefix|last]`: what ran, when, and what each action did. Read-only. */
export async function historyCommand(runId: string | undefined, opts: HistoryOptions): Promise<number> {
  const path = join(opts.stateDir, 'journal.sqlite');
  const limit = opts.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    process.stderr.write(`phoenix history: --limit must be a positive integer, got ${String(opts.limit)}\n`);
    return EXIT.invalid;
  }
  if (!existsSync(path)) {
    if (runId !== undefined) return unknownRun(runId, `no runs recorded yet in ${path}`);
    process.stdout.write(opts.json ? '[]\n' : `no runs recorded yet in ${path}\n`);
    return EXIT.ok;
  }
  const journal = Journal.open(path);
  try {
    return runId === undefined ? listRuns(journal, limit, opts.json) : showRun(journal, runId, opts.json);
  } finally {
    journal.close();
  }
}

function listRuns(journal: Journal, limit: number, json = false): number {
  // One more than shown tells whether older runs were left out.
  const runs = journal.listRuns(limit + 1);
  const shown = runs.slice(0, limit);
  if (json) {
    process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
    return EXIT.ok;
  }
  if (shown.length === 0) {
    process.stdout.write(`no runs recorded yet in ${journal.path}\n`);
    return EXIT.ok;
  }
  const style = styleFor(process.stdout);
  const header = [
    'RUN ID',
    'STARTED',
    'COMMAND',
    'OUTCOME',
    'OK',
    'UNCHANGED',
    'FAILED',
    'SKIPPED',
    'DURATION',
  ];
  process.stdout.write(
    renderTable(
      header,
      shown.map((r) => runRow(r, style)),
      style,
    ),
  );
  if (runs.length > limit)
    process.stdout.write(style.dim(`showing the newest ${plural(limit, 'run')}; --limit shows more`) + '\n');
  return EXIT.ok;
}

function showRun(journal: Journal, ref: string, json = false): number {
  const found = journal.getRun(ref);
  if (!found) {
    const matches = ref === 'last' ? [] : journal.findRunIds(ref, 6);
    if (matches.length > 1) {
      const listed = matches.slice(0, 5).join(', ') + (matches.length > 5 ? ', …' : '');
      return unknownRun(ref, `it is the start of several run ids (${listed}); give more characters`);
    }
    return unknownRun(ref, `no such run in ${journal.path}; \`phoenix history\` lists them`);
  }
  if (json) {
    process.stdout.write(JSON.stringify(found, null, 2) + '\n');
    return EXIT.ok;
  }
  const style = styleFor(process.stdout);
  process.stdout.write(runHeader(found.run, style));
  process.stdout.write(
    found.actions.length ? actionsTable(found.actions, style) : style.dim('no actions recorded') + '\n',
  );
  return EXIT.ok;
}

function unknownRun(ref: string, why: string): number {
  process.stderr.write(`phoenix history: unknown run "${printable(ref)}": ${why}\n`);
  return EXIT.invalid;
}

function runRow(r: RunRecord, style: Style): Cell[] {
  const count = (n: number | undefined): Cell => ({
    text: n === undefined ? '-' : String(n),
    alignRight: true,
  });
  return [
    { text: r.runId },
    { text: seconds(r.startedAt) },
    { text: ellipsis(commandLine(r), COMMAND_COLUMN_CHARS) },
    outcomeCell(r.outcome ?? 'running', style),
    count(r.counts?.ok),
    count(r.counts?.unchanged),
    count(r.counts?.failed),
    count(r.counts?.skipped),
    { text: r.durationMs === undefined ? '-' : formatDuration(r.durationMs), alignRight: true },
  ];
}

function runHeader(r: RunRecord, style: Style): string {
  const outcome = outcomeCell(r.outcome ?? 'running', style);
  const counts = r.counts
    ? ` (${r.counts.ok} ok, ${r.counts.unchanged} unchanged, ${r.counts.failed} failed, ${r.counts.skipped} skipped)`
    : '';
  const took = r.durationMs === undefined ? '' : ` in ${formatDuration(r.durationMs)}`;
  const ended = r.endedAt ? `, ended ${r.endedAt}` : '';
  return (
    [
      `${style.bold(`run ${r.runId}`)}  ${commandLine(r)}`,
      `  outcome  ${(outcome.colour ?? String)(outcome.text)}${counts}${took}`,
      `  started  ${r.startedAt}${ended}`,
      `  process  pid ${r.pid}, config ${printable(r.configDir)}`,
      '',
    ].join('\n') + '\n'
  );
}

function actionsTable(actions: ActionRecord[], style: Style): string {
  const header = ['RESOURCE', 'ACTION', 'OUTCOME', 'DURATION', 'ATTEMPT', 'REASON'];
  const rows = actions.map((a): Cell[] => [
    { text: printable(a.resourceId) },
    { text: a.action },
    outcomeCell(a.outcome ?? 'running', style),
    { text: a.durationMs === undefined ? '-' : formatDuration(a.durationMs), alignRight: true },
    { text: String(a.attempt), alignRight: true },
    { text: oneLine(a.reason) },
  ]);
  const lines = renderTable(header, rows, style).split('\n');
  // The error goes under its action's row, indented, since it can span lines.
  const out = [lines[0]];
  actions.forEach((a, i) => {
    out.push(lines[i + 1]);
    if (a.error)
      out.push(
        ...printable(a.error)
          .split('\n')
          .map((l, j) => style.red(`    ${j === 0 ? 'error: ' : '       '}${l}`)),
      );
  });
  return out.join('\n') + '\n';
}

function outcomeCell(outcome: string, style: Style): Cell {
  const colours: Record<string, (s: string) => string> = {
    ok: style.green,
    failed: style.red,
    crashed: style.red,
    interrupted: style.yellow,
    running: style.yellow,
    skipped: style.dim,
  };
  const colour = colours[outcome];
  return colour ? { text: outcome, colour } : { text: outcome };
}

/** Pads on plain text, then colours, so escape codes do not skew the columns. */
function renderTable(header: string[], rows: Cell[][], style: Style): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]?.text.length ?? 0)));
  const line = (cells: Cell[]) =>
    cells
      .map((cell, c) => {
        const last = c === cells.length - 1;
        const padded = cell.alignRight
          ? cell.text.padStart(widths[c]!)
          : last
            ? cell.text
            : cell.text.padEnd(widths[c]!);
        return cell.colour ? cell.colour(padded) : padded;
      })
      .join('  ');
  const head = style.bold(line(header.map((text) => ({ text }))));
  return [head, ...rows.map(line)].join('\n') + '\n';
}

function commandLine(r: RunRecord): string {
  // The command line as typed; args are kept separately for programs reading the journal.
  return printable(r.command) + (r.dryRun ? ' (dry run)' : '');
}

function seconds(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

function ellipsis(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

function oneLine(s: string): string {
  return printable(s).replace(/\s*\n\s*/g, ' ⏎ ');
}

/** C0 and C1 control characters except the newline. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;

/**
 * Journaled text can quote external tools, so control characters are shown escaped rather than sent to
 * the terminal; newlines stay (callers decide how to lay them out).
 */
function printable(s: string): string {
  return s.replace(CONTROL_CHARACTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
