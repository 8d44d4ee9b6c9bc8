import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Http01Responder } from '../ca/types.js';
import { DriverError } from '../errors.js';
import { memoryDnsProbe } from './dns.js';
import type { MemoryWorld, WorldGuest } from './world.js';

/**
 * The emulated ACME CA's http-01 validation (RFC 8555 §8.3), done the way a CA does it: resolve the name
 * through the host DNS, then GET http://<name>/.well-known/acme-challenge/<token> from whatever serves port
 * 80 at that address — here, the emulated nginx of the guest with that address, when it runs a port-80
 * server whose challenge location has a root holding the token with the expected content.
 */

const CONF_D = /^\/etc\/nginx\/conf\.d\/[^/]+\.conf$/;

export async function validateHttp01(
  world: MemoryWorld,
  names: readonly string[],
  responder: Http01Responder,
): Promise<void> {
  for (const name of names) {
    const token = randomBytes(32).toString('base64url');
    const keyAuthorization = `${token}.${randomBytes(32).toString('base64url')}`;
    await responder.present(token, keyAuthorization);
    try {
      const got = await fetchChallenge(world, name, token);
      if (got !== keyAuthorization)
        throw new DriverError(
          `http-01 for ${name} failed: the answer at the challenge URL is not the key authorization`,
        );
    } finally {
      await responder.cleanup(token);
    }
  }
}

async function fetchChallenge(world: MemoryWorld, name: string, token: string): Promise<string> {
  const url = `http://${name}/.well-known/acme-challenge/${token}`;
  const addresses = await memoryDnsProbe(world)
    .lookup(name)
    .catch((e: Error) => {
      throw new DriverError(`http-01 for ${name} failed: DNS problem: ${e.message}`);
    });
  if (addresses.length === 0)
    throw new DriverError(`http-01 for ${name} failed: DNS problem: NXDOMAIN looking up A for ${name}`);
  const address = addresses[0]!;
  const guest = Object.values(world.state.guests).find((g) => g.settings.ip?.split('/')[0] === address);
  const nginx = guest?.services.nginx;
  if (!guest || guest.status !== 'running' || !nginx?.active)
    throw new DriverError(`http-01 for ${name} failed: connection refused at ${address}:80 (${url})`);
  const root = challengeRoot(guest, address);
  if (!root)
    throw new DriverError(
      `http-01 for ${name} failed: ${url} answered 404 (no challenge location on port 80)`,
    );
  const file = guest.files[posix.join(root, '.well-known/acme-challenge', token)];
  if (!file) throw new DriverError(`http-01 for ${name} failed: ${url} answered 404`);
  return Buffer.from(file.content, 'base64').toString('utf8');
}

/** The `root` of the `/.well-known/acme-challenge/` location of a server listening on port 80 there. */
function challengeRoot(guest: WorldGuest, address: string): string | undefined {
  for (const [path, f] of Object.entries(guest.files)) {
    if (!CONF_D.test(path)) continue;
    const text = Buffer.from(f.content, 'base64').toString('utf8');
    if (!new RegExp(`listen\\s+(${address.replace(/\./g, '\\.')}:)?80[\\s;]`).test(text)) continue;
    const m = /location\s+\^~\s+\/\.well-known\/acme-challenge\/\s*\{[^}]*?root\s+([^;\s]+);/.exec(text);
    if (m) return m[1];
  }
  return undefined;
}
