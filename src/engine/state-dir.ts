import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where Phoenix keeps its journal, lock and certificate store. */
export function resolveStateDir(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option) return option;
  if (env.PHOENIX_STATE_DIR) return env.PHOENIX_STATE_DIR;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'phoenix');
}

export const statePaths = (dir: string) => ({
  journal: join(dir, 'journal.sqlite'),
  lock: join(dir, 'phoenix.lock'),
  certs: join(dir, 'certs'),
  memoryWorld: join(dir, 'memory-world.json'),
});
