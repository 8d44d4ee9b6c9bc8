/** Exit codes, one meaning each. */
export const EXIT = {
  ok: 0,
  /** Something ran and failed (a resource, a verification). */
  failed: 1,
  /** The configuration or the command line is wrong; nothing was changed. */
  invalid: 2,
  /** A check found something that needs attention (`certs status`); nothing was changed. */
  attention: 3,
} as const;
