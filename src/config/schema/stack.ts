import { z } from 'zod';
import { absPath, firewallRule, ipv4, safeName } from './common.js';

/** stacks/<name>/phoenix.json: how a Docker stack is deployed through Portainer. */

const stackVolume = z.discriminatedUnion('driver', [
  z.strictObject({ driver: z.literal('local') }),
  z.strictObject({
    driver: z.literal('nfs'),
    server: ipv4,
    export: absPath,
    options: z
      .string()
      .regex(/^[a-z0-9_]+(=[A-Za-z0-9_.:-]+)?(,[a-z0-9_]+(=[A-Za-z0-9_.:-]+)?)*$/)
      .optional(),
  }),
]);

const environment = z.strictObject({
  variables: z
    .array(z.strictObject({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), value: z.string() }))
    .optional(),
  files: z.array(z.strictObject({ source: z.string(), destination: absPath })).optional(),
  services: z
    .record(
      safeName,
      z.strictObject({ traefik_labels: z.array(z.string().regex(/^[A-Za-z0-9_.@-]+=.*$/)).optional() }),
    )
    .optional(),
  firewall_rules: z.array(firewallRule).optional(),
});

export const stackConfig = z
  .strictObject({
    $schema: z.string().optional(),
    description: z.string().optional(),
    environments: z.record(safeName, environment),
    volumes: z
      .record(safeName, stackVolume)
      .optional()
      .meta({ description: 'How to create the external volumes the compose file uses (default: local).' }),
    deploy: z
      .strictObject({
        mode: z.enum(['compose', 'swarm']),
        placement: z
          .array(z.string().regex(/^(node|engine)\.[A-Za-z0-9_.-]+\s*(==|!=)\s*\S+$/))
          .optional()
          .meta({ description: 'Swarm placement constraints, e.g. node.labels.gpu==true.' }),
      })
      .optional()
      .meta({
        description:
          "compose (default): one Docker host, the VM's environment. swarm: the environment is a swarm manager; services and volumes go to every node the placement allows.",
      }),
    requires: z
      .array(
        z
          .string()
          .regex(/^[a-z-]+\/\S+$/, { error: 'must be a resource id like cert/portainer.internal.example' }),
      )
      .optional()
      .meta({
        description: 'Resource ids the stack needs before it is deployed, e.g. the certificate it mounts.',
      }),
  })
  .meta({ title: 'Phoenix stack definition', description: 'stacks/<name>/phoenix.json' });
export type StackConfig = z.infer<typeof stackConfig>;
