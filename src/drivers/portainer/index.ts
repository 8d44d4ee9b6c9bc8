/** Portainer CE 2.x API driver: see client.ts for transport, authentication and retries. */
export { PortainerClient, parseError } from './client.js';
export type { CallOptions, PortainerAuth, PortainerClientOptions, PortainerResponse } from './client.js';
export * from './errors.js';
export * from './admin.js';
export * from './endpoints.js';
export * from './stacks.js';
export * from './docker.js';
export * from './volumes.js';
export * from './types.js';
export { multipartForm, urlEncodedForm } from './form.js';
export type { EncodedBody, FormFields, FormFile } from './form.js';
export { portainerHttpsTransport } from './http.js';
export type { HttpMethod, PortainerHttpRequest, PortainerHttpResponse, PortainerTransport } from './http.js';
