import type { PortainerClient } from './client.js';
import { PortainerApiError } from './errors.js';

/**
 * Admin initialisation (Portainer swagger: UserAdminCheck, UserAdminInit; both public).
 *
 * - `GET /api/users/admin/check` answers **204** when an administrator exists and **404** ("No administrator
 *   account found inside the database") when none does. The status is the answer: there is no body field to
 *   read (the original looked at a field that is always present, and so never initialised the admin).
 * - `POST /api/users/admin/init` `{Username, Password}` creates it (200), or 409 if one exists already, or 400
 *   when the password is too weak ("Password does not meet the requirements"; 12 characters by default).
 * - The initialisation window: a server that has no administrator 5 minutes after it started disables itself
 *   and answers every API call but `/api/status` with 303, header `redirect-reason: AdminInitTimeout`, body
 *   `{"message":"Administrator initialization timeout"}` (adminmonitor package). The client turns that answer
 *   into an AdminInitTimeoutError that says to restart the Portainer container and sync again in time.
 */

export type AdminState = 'exists' | 'none';

export async function checkAdmin(client: PortainerClient): Promise<AdminState> {
  const response = await client.call('GET', '/api/users/admin/check', { auth: false, expect: [204, 404] });
  return response.status === 204 ? 'exists' : 'none';
}

export interface AdminCredentials {
  readonly username: string;
  /** From a secret reference; never logged. */
  readonly password: string;
}

export type AdminOutcome = 'created' | 'existed';

const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** Creates the administrator only when none exists. Idempotent; a concurrent init (409) counts as existed. */
export async function ensureAdmin(
  client: PortainerClient,
  credentials: AdminCredentials,
): Promise<AdminOutcome> {
  if (!USERNAME.test(credentials.username)) {
    throw new Error(
      'Portainer admin username must be 1-64 characters of letters, digits, ".", "_", "@", "-"',
    );
  }
  if ((await checkAdmin(client)) === 'exists') return 'existed';
  try {
    await client.call('POST', '/api/users/admin/init', {
      auth: false,
      json: { Username: credentials.username, Password: credentials.password },
    });
  } catch (err) {
    if (err instanceof PortainerApiError && err.status === 409) return 'existed';
    throw err;
  }
  if ((await checkAdmin(client)) !== 'exists') {
    throw new PortainerApiError(
      'unexpected',
      'GET',
      '/api/users/admin/check',
      404,
      'admin init succeeded but the admin check still finds no administrator',
      undefined,
    );
  }
  return 'created';
}
