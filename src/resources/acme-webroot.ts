import type { Http01Responder } from '../drivers/ca/types.js';
import { DriverError } from '../drivers/errors.js';
import { gatewayGuest } from '../generate/topology.js';
import { ACME_CHALLENGE_DIR } from '../graph/paths.js';
import type { Context } from './types.js';

/** RFC 8555 §8.3: a token is base64url; anything else must never become part of a path. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const PUBLIC = { owner: 'root', group: 'root', mode: 0o644 } as const;

/**
 * Answers http-01 from the gateway's webroot, which its port-80 server (gateway-http) serves: the names
 * Phoenix issues through ACME resolve to the gateway, so that is where the CA comes to look.
 */
export function gatewayWebroot(ctx: Context): Http01Responder {
  const gw = gatewayGuest(ctx.inventory);
  if (!gw)
    throw new DriverError('ACME http-01 needs the gateway (a guest with feature "nginx"); there is none');
  const path = (token: string) => {
    if (!TOKEN.test(token))
      throw new DriverError(`the CA sent an invalid http-01 token ${JSON.stringify(token)}`);
    return `${ACME_CHALLENGE_DIR}/${token}`;
  };
  return {
    present: (token, keyAuthorization) =>
      ctx.drivers.hypervisor.writeFile(
        gw.id,
        path(token),
        new TextEncoder().encode(keyAuthorization),
        PUBLIC,
      ),
    cleanup: (token) => ctx.drivers.hypervisor.removeFile(gw.id, path(token)),
  };
}
