/** The Proxmox CLI transport: pct, qm and pvesh, run locally or over SSH. */
export { LocalRunner } from './runner.js';
export type { CommandRunner, LocalRunnerOptions, RunOptions, RunResult } from './runner.js';
export { SshRunner, SshError } from './ssh.js';
export type { SshRunnerOptions } from './ssh.js';
export { CliCommandFailed, CliConfigLocked, CliOutputError, isLockTimeout } from './errors.js';
export { Pct, parseConfigLines } from './pct.js';
export type { PctExecOptions, PctOptions, PctStatus, PushAttrs } from './pct.js';
export { Qm, parseExecStatus } from './qm.js';
export type { GuestExecOptions, GuestExecResult, GuestExecStatus } from './qm.js';
export { Pvesh, paramArgs } from './pvesh.js';
export type { PveshMethod, PveshParams } from './pvesh.js';
export { AGENT_WRITE_CHUNK_BYTES, agentReadFile, agentWriteFile } from './agent-file.js';
export type { AgentFileOptions } from './agent-file.js';
export { PveshApi, parsePveshOutput, pveshError, pveshParamArgs, pveshPath } from './pvesh-api.js';
export type { PveshApiOptions } from './pvesh-api.js';
