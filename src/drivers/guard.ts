import { MutationRefused } from './errors.js';

/**
 * Wraps a driver so that its mutating methods throw. `plan` and `--dry-run` run on guarded drivers only,
 * which makes "performs no mutation" a property of the driver layer rather than of every caller.
 */
export function readOnly<T extends object>(driver: T, mutations: ReadonlyArray<keyof T>, label: string): T {
  const refused = new Set<PropertyKey>(mutations);
  return new Proxy(driver, {
    get(target, prop, receiver) {
      if (refused.has(prop)) {
        return () => Promise.reject(new MutationRefused(`${label}.${String(prop)}`));
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
