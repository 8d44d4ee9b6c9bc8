/** The Proxmox VE REST API client: see client.ts (transport, auth, errors, retries) and the typed helpers. */
export * from './errors.js';
export * from './form.js';
export * from './transport.js';
export * from './client.js';
export * from './upid.js';
export * from './tasks.js';
export * from './parse.js';
export * from './resources.js';
export * from './agent.js';
export * from './vmid.js';
