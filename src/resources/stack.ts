import { stackContentHash } from '../drivers/containers/content-hash.js';
import type { StackDeploy } from '../drivers/containers/types.js';
import { AGENT_SECRET, deployedCompose } from '../generate/compose-deploy.js';
import type { ResourceNode } from '../graph/types.js';
import { composeProjectHandler } from './compose-project.js';
import { dockerAt } from './docker-place.js';
import type { Context } from './types.js';

type StackSpec = Extract<ResourceNode['spec'], { kind: 'stack' }>;

function spec(node: ResourceNode): StackSpec {
  if (node.spec.kind !== 'stack') throw new Error(`${node.id} is not a stack`);
  return node.spec;
}

/** What is deployed: the compose file with Phoenix's additions, and the environment's variables. */
async function deployment(ctx: Context, s: StackSpec): Promise<StackDeploy> {
  const vars = s.stack.config.environments[s.environment]?.variables ?? [];
  const env: Record<string, string> = Object.fromEntries(vars.map((v) => [v.name, v.value]));
  if (s.agentSecretService !== undefined)
    env[AGENT_SECRET] = await ctx.drivers.secrets.read('portainer-agent-secret');
  let compose = await deployedCompose(s.stack, s.environment, {
    ...(s.agentSecretService === undefined ? {} : { agentSecretService: s.agentSecretService }),
  });
  // A swarm stack is stored with its placement: hash what Portainer will hold (the driver adds nothing more).
  if (s.placement?.mode === 'swarm') {
    const { injectPlacement } = await import('../drivers/portainer/swarm-placement.js');
    compose = injectPlacement(compose, s.placement.constraints ?? []);
  }
  return { name: s.stack.name, compose, env, contentHash: stackContentHash(compose, env) };
}

export const stackHandler = composeProjectHandler('stack', async (ctx, node) => {
  const s = spec(node);
  return { place: dockerAt(ctx, s.guest, s.route, s.placement), deploy: await deployment(ctx, s) };
});
