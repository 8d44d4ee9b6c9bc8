import { DriverError } from '../errors.js';
import type { TransportFailure } from '../ca/trust.js';

/**
 * Typed Portainer failures. Every message is built from the method, the URL path and Portainer's own
 * `{message, details}` — never from a request body or header, so a password or token cannot leak
 * through an error, its stack or `util.inspect`.
 */

export type PortainerErrorKind =
  | 'unauthorized' // 401 after one re-authentication
  | 'forbidden' // 403
  | 'not-found' // 404
  | 'conflict' // 409: a name already exists
  | 'invalid' // 400 / 422 (422 is also "Invalid credentials" on /api/auth)
  | 'server' // 500 and other 5xx: e.g. a compose deploy that failed
  | 'admin-init-timeout' // 303 + redirect-reason: AdminInitTimeout
  | 'unexpected'; // any other status or an unreadable body

/** An HTTP answer from Portainer that is not the expected one. */
export class PortainerApiError extends DriverError {
  constructor(
    readonly kind: PortainerErrorKind,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** Portainer's `message` (or Docker's, through the proxy). */
    readonly apiMessage: string,
    /** Portainer's `details`, when present. */
    readonly details: string | undefined,
    retryable = false,
  ) {
    super(
      `Portainer ${method} ${path} answered ${status}: ${apiMessage || '(no message)'}${
        details && details !== apiMessage ? ` (${details})` : ''
      }`,
      retryable,
      `portainer-${kind}`,
    );
    this.name = 'PortainerApiError';
  }
}

/** The server refused admin initialisation: it was not initialised within its window after start. */
export class AdminInitTimeoutError extends DriverError {
  constructor(readonly path: string) {
    super(
      `Portainer disabled itself: no administrator was created within its initialisation window ` +
        `(5 minutes after the server started); it answers 303 "Administrator initialization timeout" ` +
        `to ${path} and every other API call until it is restarted. Restart the Portainer server ` +
        `container (for example \`docker restart portainer_server\` on its VM), then run the sync again ` +
        `within 5 minutes so the admin user is initialised.`,
      false,
      'portainer-admin-init-timeout',
    );
    this.name = 'AdminInitTimeoutError';
  }
}

/** No answer: connection refused, reset, TLS failure or a timeout. */
export class PortainerTransportError extends DriverError {
  constructor(
    message: string,
    readonly failure: TransportFailure,
    readonly errorCode: string | undefined,
    retryable: boolean,
  ) {
    super(message, retryable, `portainer-${failure}`);
    this.name = 'PortainerTransportError';
  }
}

/** A check after a change failed: what Portainer stored or runs is not what was sent. */
export class PortainerVerifyError extends DriverError {
  constructor(message: string) {
    super(message, false, 'portainer-verify');
    this.name = 'PortainerVerifyError';
  }
}

export function kindOfStatus(status: number): PortainerErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 400 || status === 422) return 'invalid';
  if (status >= 500) return 'server';
  return 'unexpected';
}
