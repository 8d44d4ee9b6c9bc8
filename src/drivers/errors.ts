/** Typed driver errors: the engine decides retry and messages from the type, never from text. */
export class DriverError extends Error {
  constructor(
    message: string,
    /** Transient failures (a config lock timeout, a busy API) may be retried with backoff. */
    readonly retryable = false,
    readonly code = 'driver',
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

export class NotFoundError extends DriverError {
  constructor(what: string) {
    super(`${what} does not exist`, false, 'not-found');
    this.name = 'NotFoundError';
  }
}

/** Raised by the read-only guard: plan and --dry-run must never reach a mutating call. */
export class MutationRefused extends Error {
  constructor(readonly method: string) {
    super(`refused mutating driver call ${method} in read-only mode`);
    this.name = 'MutationRefused';
  }
}

/** A wait that reached its deadline; the message says what was awaited. */
export class DeadlineExceeded extends Error {
  constructor(
    readonly awaited: string,
    readonly ms: number,
  ) {
    super(`timed out after ${ms} ms waiting for ${awaited}`);
    this.name = 'DeadlineExceeded';
  }
}
