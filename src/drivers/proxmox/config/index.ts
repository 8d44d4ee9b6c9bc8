/** Pure mapping between Phoenix's guest model and Proxmox guest configuration. No I/O anywhere below. */
export * from './errors.js';
export * from './values.js';
export * from './common.js';
export * from './idmap.js';
export * from './resize.js';
export * from './raw.js';
export * from './lxc.js';
export * from './qemu.js';
export * from './parse.js';
export * from './cluster.js';
