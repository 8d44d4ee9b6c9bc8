import type { Origin } from '../config/diagnostics.js';
import type { SecretUse } from './inventory.js';

/** Classifies a secret field without keeping a plaintext value anywhere. */
export function secretUse(value: string, origin: Origin): SecretUse {
  if (value.startsWith('file:')) return { kind: 'file', ref: value.slice(5), origin };
  if (value.startsWith('env:')) return { kind: 'env', ref: value.slice(4), origin };
  return { kind: 'plaintext', origin };
}
