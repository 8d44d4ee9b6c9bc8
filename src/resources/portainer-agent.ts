import { stackContentHash } from '../drivers/containers/content-hash.js';
import { AGENT_PROJECT, AGENT_SECRET, agentCompose } from '../generate/compose-deploy.js';
import { composeProjectHandler } from './compose-project.js';
import { dockerAt } from './docker-place.js';

/** The Portainer agent on a Docker VM: its own compose project, deployed on the VM's Docker directly. */
export const portainerAgentHandler = composeProjectHandler('portainer-agent', async (ctx, node) => {
  if (node.spec.kind !== 'portainer-agent') throw new Error(`${node.id} is not a Portainer agent`);
  const { agent } = node.spec;
  const compose = agentCompose(agent);
  const env = { [AGENT_SECRET]: await ctx.drivers.secrets.read('portainer-agent-secret') };
  return {
    place: dockerAt(ctx, agent.guest, { via: 'direct' }),
    deploy: { name: AGENT_PROJECT, compose, env, contentHash: stackContentHash(compose, env) },
  };
});
