import { posix } from 'node:path';
import type { WorldContainer } from './world.js';

/**
 * What a container's definition says about the files it reads, shared by the memory world's TLS probe and
 * the lab's Portainer processes: an option of its command, and a container path mapped to the guest path
 * behind it.
 */

/** The value of `--flag X` or `--flag=X` in an argv. */
export function flag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i]!.startsWith(`${name}=`)) return argv[i]!.slice(name.length + 1);
  }
  return undefined;
}

/** A path inside the container → the guest path behind it (its longest matching mount), or undefined. */
export function guestPathOf(c: WorldContainer, path: string): string | undefined {
  const mounts = [...(c.binds ?? [])].sort((a, b) => b.target.length - a.target.length);
  for (const m of mounts) {
    const target = m.target.replace(/\/+$/, '');
    if (path !== target && !path.startsWith(`${target}/`)) continue;
    if (m.type === 'bind' && !m.source.startsWith('/')) return undefined; // relative to a project dir
    const base = m.type === 'bind' ? m.source : `/var/lib/docker/volumes/${m.source}/_data`;
    return posix.join(base, path.slice(target.length));
  }
  return undefined;
}
