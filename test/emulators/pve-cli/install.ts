import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ForwardTarget } from './forward.js';
import type { EmuGuest, EmuState } from './state.js';
import { guestRoot } from './state.js';

/**
 * Installs the stand-in into a directory: `<dir>/bin/{pct,qm,pvesh}` (executables: a node shebang with this
 * Node's absolute path, the state path baked in, then `main`) and `<dir>/state.json`. Put `<dir>/bin` first
 * in PATH (locally through the runner's env, over SSH through the server's SetEnv).
 *
 * With `forward`, pvesh forwards to the HTTPS API emulator (main.ts, forward.ts): the target, token included,
 * goes to `<dir>/forward.json` (mode 0600) and the wrappers name it in PVE_EMU_FORWARD — so neither the
 * runner's environment, sshd's SetEnv nor any argv carries the token.
 */
export interface StandIn {
  readonly dir: string;
  readonly binDir: string;
  readonly statePath: string;
  readState(): Promise<EmuState>;
  writeState(s: EmuState): Promise<void>;
  /** The host directory that is the guest's `/`. */
  root(vmid: number): string;
}

export async function installStandIn(
  dir: string,
  guests: Record<string, EmuGuest>,
  node = 'pve',
  opts: { readonly forward?: ForwardTarget } = {},
): Promise<StandIn> {
  const binDir = join(dir, 'bin');
  const statePath = join(dir, 'state.json');
  await mkdir(binDir, { recursive: true });
  const forwardPath = join(dir, 'forward.json');
  if (opts.forward) await writeFile(forwardPath, JSON.stringify(opts.forward), { mode: 0o600 });
  const mainUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'main.js')).href;
  for (const tool of ['pct', 'qm', 'pvesh']) {
    const file = join(binDir, tool);
    await writeFile(
      file,
      `#!${process.execPath}\n` +
        `process.env.PVE_EMU_STATE = ${JSON.stringify(statePath)};\n` +
        (opts.forward ? `process.env.PVE_EMU_FORWARD = ${JSON.stringify(forwardPath)};\n` : '') +
        `import(${JSON.stringify(mainUrl)}).then((m) => m.main(${JSON.stringify(tool)}, process.argv.slice(2)))` +
        `.then((code) => { process.exitCode = code; });\n`,
    );
    await chmod(file, 0o755);
  }
  const state: EmuState = { node, guests, files: {}, faults: {}, log: [] };
  await writeFile(statePath, JSON.stringify(state, null, 1));
  for (const vmid of Object.keys(guests)) await mkdir(guestRoot(statePath, vmid), { recursive: true });
  return {
    dir,
    binDir,
    statePath,
    readState: async () => JSON.parse(await readFile(statePath, 'utf8')) as EmuState,
    writeState: (s) => writeFile(statePath, JSON.stringify(s, null, 1)),
    root: (vmid) => guestRoot(statePath, String(vmid)),
  };
}
