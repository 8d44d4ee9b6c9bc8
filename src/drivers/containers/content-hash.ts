import { createHash } from 'node:crypto';

/**
 * What identifies a deployed stack's content: its compose file and its environment (keys sorted). Phoenix
 * computes it from what it deploys; a driver that cannot store it (Portainer) computes it from the file and
 * environment it reads back, so both sides agree without any marker of Phoenix's own.
 */
export function stackContentHash(compose: string, env: Readonly<Record<string, string>>): string {
  const sorted = Object.fromEntries(
    Object.keys(env)
      .sort()
      .map((k) => [k, env[k]]),
  );
  return createHash('sha256').update(compose).update('\0').update(JSON.stringify(sorted)).digest('hex');
}
