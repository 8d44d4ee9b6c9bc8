import { z } from 'zod';
import { certificateManifest } from './schema/certificates.js';
import { lxcConfigFile, vmConfigFile } from './schema/guest.js';
import { hypervisorConfig } from './schema/hypervisor.js';
import { stackConfig } from './schema/stack.js';

/** JSON Schemas for editors, generated from the same zod schemas that validate and type the config. */
export function jsonSchemas(): Map<string, unknown> {
  const gen = (schema: z.ZodType) =>
    z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any', reused: 'ref' });
  return new Map<string, unknown>([
    ['phoenix_hypervisor_config.schema.json', gen(hypervisorConfig)],
    ['phoenix_lxc_configs.schema.json', gen(lxcConfigFile)],
    ['phoenix_vm_configs.schema.json', gen(vmConfigFile)],
    ['certificate-manifest.schema.json', gen(certificateManifest)],
    ['stack.schema.json', gen(stackConfig)],
  ]);
}
