import type { z } from 'zod';
import { joinPointer, type Diagnostics } from './diagnostics.js';

type Issue = z.core.$ZodIssue;

/** Turns zod issues into located, human messages. Unions report the branch that came closest. */
export function reportSchemaIssues(
  issues: readonly Issue[],
  file: string,
  diags: Diagnostics,
  basePointer = '',
): void {
  for (const issue of issues) {
    for (const flat of flatten(issue, [])) {
      diags.error({ file, pointer: joinPointer(basePointer, ...flat.path) }, 'schema', flat.message);
    }
  }
}

interface Flat {
  path: Array<string | number>;
  message: string;
}

function flatten(issue: Issue, prefix: PropertyKey[]): Flat[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const best = closestBranch(issue.errors);
    return best.flatMap((i) => flatten(i, path));
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: [...path.map(toSegment), k], message: `unknown field "${k}"` }));
  }
  return [{ path: path.map(toSegment), message: describe(issue) }];
}

function toSegment(p: PropertyKey): string | number {
  return typeof p === 'number' ? p : String(p);
}

/** The branch whose problems are deepest (it matched the most structure), then the one with fewest problems. */
function closestBranch(branches: Issue[][]): Issue[] {
  const depth = (b: Issue[]) => Math.min(...b.map((i) => i.path.length));
  return [...branches].sort((a, b) => depth(b) - depth(a) || a.length - b.length)[0]!;
}

function describe(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const input = (issue as { input?: unknown }).input;
      if (input === undefined) return `missing required field (${issue.expected})`;
      return `expected ${issue.expected}, got ${kindOf(input)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      if ('discriminator' in issue && issue.discriminator) {
        return `"${issue.discriminator}" must be one of ${(issue as { options?: unknown[] }).options?.map((o) => JSON.stringify(o)).join(', ')}`;
      }
      return issue.message;
    case 'too_small':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `must have at least ${issue.minimum} ${issue.origin === 'string' ? 'characters' : 'items'}`
        : `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `must have at most ${issue.maximum} ${issue.origin === 'string' ? 'characters' : 'items'}`
        : `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
    case 'invalid_format':
      return issue.message.startsWith('Invalid') ? `must be a valid ${issue.format}` : issue.message;
    case 'invalid_key':
      return issue.message;
    default:
      return issue.message;
  }
}

/** Only the type: a value in the wrong place may be a secret, and messages are printed and logged. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}
