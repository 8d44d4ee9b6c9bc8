import type { Diagnostic } from '../config/diagnostics.js';
import type { Style } from './style.js';

/** One line per problem: `file:line:col: error code at /pointer: message`. */
export function formatDiagnostic(d: Diagnostic, style: Style): string {
  const place = d.line !== undefined ? `${d.file}:${d.line}:${d.column}` : d.file;
  const sev = d.severity === 'error' ? style.red('error') : style.yellow('warning');
  const at = d.pointer ? ` at ${d.pointer}` : '';
  return `${style.bold(place)}: ${sev} ${style.dim(d.code)}${at}: ${d.message}`;
}

export function diagnosticJson(d: Diagnostic): Record<string, unknown> {
  return {
    severity: d.severity,
    code: d.code,
    file: d.file,
    line: d.line ?? null,
    column: d.column ?? null,
    pointer: d.pointer,
    message: d.message,
  };
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
