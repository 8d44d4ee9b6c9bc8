export { prepareCa, startCa, stopCa } from './ca.js';
export type { PrepareCaOptions, PreparedCa, RunningCa, StartCaOptions } from './ca.js';
export { StepCaUnavailable, ensureStepCaBinary, findBuildScript, freeLoopbackEndpoint } from './binary.js';
export type { BuildResult } from './binary.js';
export { createCaPki, createProvisionerKey, STEP_PBES2_COUNT } from './pki.js';
export type { CaKeyPair, CaPki, PkiNames, ProvisionerKey } from './pki.js';
export { launchStepCa } from './launch.js';
export type { LaunchOptions, LaunchedCa } from './launch.js';
