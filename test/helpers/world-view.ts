import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A comparable view of a persisted memory world: what a converged host looks like, without what differs
 * from run to run by design (fresh keys and serials, timestamps, reload counters).
 */
export function worldView(stateDir: string): unknown {
  const world = JSON.parse(readFileSync(join(stateDir, 'memory-world.json'), 'utf8')) as {
    host: { files: Record<string, { content: string; owner: unknown; group: unknown; mode: number }> };
    guests: Record<
      string,
      Record<string, unknown> & {
        files: Record<string, { content: string; owner: unknown; group: unknown; mode: number }>;
        docker: {
          volumes: object;
          stacks: Record<string, { contentHash: string }>;
          containers: Record<string, { running: boolean }>;
        };
        snapshots: Array<{ name: string }>;
        services: Record<string, { active: boolean }>;
      }
    >;
  };
  const files = (fs: Record<string, { content: string; owner: unknown; group: unknown; mode: number }>) =>
    Object.fromEntries(
      Object.entries(fs)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([path, f]) => {
          const text = Buffer.from(f.content, 'base64').toString('utf8');
          // Certificate material is new on every issue; its presence, owner and mode are what must converge.
          const content = /-----BEGIN/.test(text)
            ? 'pem'
            : createHash('sha256').update(text).digest('hex').slice(0, 16);
          return [path, { content, owner: f.owner, group: f.group, mode: f.mode }];
        }),
    );
  return {
    host: files(world.host.files),
    guests: Object.fromEntries(
      Object.entries(world.guests).map(([id, g]) => [
        id,
        {
          kind: g.kind,
          status: g.status,
          template: g.template,
          settings: g.settings,
          snapshots: g.snapshots.map((s) => s.name),
          files: files(g.files),
          services: Object.fromEntries(Object.entries(g.services).map(([n, s]) => [n, s.active])),
          volumes: g.docker.volumes,
          stacks: Object.fromEntries(Object.entries(g.docker.stacks).map(([n, s]) => [n, s.contentHash])),
          containers: Object.fromEntries(Object.entries(g.docker.containers).map(([n, c]) => [n, c.running])),
        },
      ]),
    ),
  };
}

/** Every installed key and certificate pair equals what the store holds for that certificate. */
export function installedPairsMatchStore(
  stateDir: string,
  installs: Array<{ cert: string; guest: string; key: string; crt: string }>,
): string[] {
  const world = JSON.parse(readFileSync(join(stateDir, 'memory-world.json'), 'utf8')) as {
    guests: Record<string, { files: Record<string, { content: string }> }>;
  };
  const problems: string[] = [];
  for (const i of installs) {
    const bundle = JSON.parse(readFileSync(join(stateDir, 'certs', i.cert, 'bundle.json'), 'utf8')) as {
      keyPem: string;
      certPem: string;
    };
    const files = world.guests[i.guest]?.files ?? {};
    const text = (p: string) =>
      files[p] ? Buffer.from(files[p]!.content, 'base64').toString('utf8') : undefined;
    if (text(i.key) !== bundle.keyPem)
      problems.push(`${i.guest}:${i.key} is not the stored key of ${i.cert}`);
    if (text(i.crt) !== bundle.certPem)
      problems.push(`${i.guest}:${i.crt} is not the stored certificate of ${i.cert}`);
  }
  return problems;
}
