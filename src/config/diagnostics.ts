/** A problem found in the configuration, located by file and JSON pointer; line:column is resolved lazily. */
export type Severity = 'error' | 'warning';

export interface Origin {
  /** Path of the file as the user named it (relative to the config dir where possible). */
  readonly file: string;
  /** RFC 6901 JSON pointer into that file ('' for the whole document). */
  readonly pointer: string;
}

export interface Diagnostic extends Origin {
  readonly severity: Severity;
  /** Stable machine-readable code, e.g. `ref.unknown-guest`. */
  readonly code: string;
  readonly message: string;
  /** 1-based; filled in when the diagnostic is rendered. */
  line?: number;
  column?: number;
}

export function pointer(...segments: ReadonlyArray<string | number>): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export function joinPointer(base: string, ...segments: ReadonlyArray<string | number>): string {
  return base + pointer(...segments);
}

export function splitPointer(p: string): string[] {
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Collects diagnostics from every stage so that validate can report all problems at once. */
export class Diagnostics {
  readonly items: Diagnostic[] = [];

  error(origin: Origin, code: string, message: string): void {
    this.items.push({ ...origin, severity: 'error', code, message });
  }

  warning(origin: Origin, code: string, message: string): void {
    this.items.push({ ...origin, severity: 'warning', code, message });
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }

  get warningCount(): number {
    return this.items.filter((d) => d.severity === 'warning').length;
  }
}
