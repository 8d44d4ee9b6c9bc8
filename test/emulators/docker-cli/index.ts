export { DockerCliEmulator } from './cli.js';
export type { DockerCall, DockerCliEmulatorOptions } from './cli.js';
export { parseDotenv } from './dotenv.js';
export { dockerExecHook } from './pve-hook.js';
export type { CliResult, DockerHost, EmuContainer, EmuVolume, GuestFiles } from './state.js';
