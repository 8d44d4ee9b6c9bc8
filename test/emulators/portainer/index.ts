export { startPortainerEmulator } from './server.js';
export type {
  EmulatedContainer,
  EmulatedEndpoint,
  EmulatedStack,
  Fault,
  LoggedRequest,
  PortainerEmulator,
  PortainerEmulatorOptions,
} from './server.js';
export { makeEmulatorTls } from './cert.js';
