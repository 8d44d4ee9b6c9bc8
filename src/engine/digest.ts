import { createHash } from 'node:crypto';
import type { Analysis } from '../analyse.js';

/** A digest of every config file read: a saved plan applies only to the configuration it was made from. */
export function configDigest(a: Pick<Analysis, 'raw'>): string {
  const h = createHash('sha256');
  for (const [name, src] of [...a.raw.sources].sort(([x], [y]) => x.localeCompare(y)))
    h.update(name).update('\0').update(src.text).update('\0');
  return h.digest('hex');
}
