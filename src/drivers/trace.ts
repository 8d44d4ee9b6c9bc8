import { now, type EventSink } from '../engine/events.js';

/**
 * Reports every driver call (for --verbose) without ever showing what it carries: file contents and other
 * payloads appear only as a size, strings only when short, single-line and plainly an id or a path.
 */
export function traced<T extends object>(driver: T, label: string, emit: EventSink): T {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop === 'symbol') return value;
      return async (...args: unknown[]) => {
        const started = Date.now();
        const method = String(prop);
        try {
          const result: unknown = await (value as (...a: unknown[]) => unknown).apply(target, args);
          emit({
            type: 'driver-call',
            driver: label,
            method,
            detail: describeArgs(args),
            durationMs: Date.now() - started,
            at: now(),
          });
          return result;
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          emit({
            type: 'driver-call',
            driver: label,
            method,
            detail: describeArgs(args),
            durationMs: Date.now() - started,
            error,
            at: now(),
          });
          throw e;
        }
      };
    },
  });
}

const SAFE_STRING = /^[A-Za-z0-9_./:@+=,-]{1,120}$/;

export function describeArgs(args: readonly unknown[]): string {
  return args.map(describe).join(' ');
}

function describe(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return SAFE_STRING.test(v) ? v : `<${v.length} chars>`;
  if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
  if (Array.isArray(v))
    return v.every((x) => typeof x === 'string' && SAFE_STRING.test(x))
      ? `[${v.join(' ')}]`
      : `[${v.length} items]`;
  if (typeof v === 'object') {
    const id = (v as { id?: unknown; name?: unknown }).id ?? (v as { name?: unknown }).name;
    return typeof id === 'string' || typeof id === 'number' ? `{${describe(id)}…}` : '{…}';
  }
  return typeof v;
}
