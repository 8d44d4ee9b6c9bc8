import { DriverError } from '../errors.js';
import type { ProbeFailure } from './types.js';

/** A probe that got no answer, and why (verification words its reason from `failure`, never from text). */
export class ProbeError extends DriverError {
  constructor(
    message: string,
    readonly failure: ProbeFailure,
  ) {
    super(message, false, `probe-${failure}`);
    this.name = 'ProbeError';
  }
}
