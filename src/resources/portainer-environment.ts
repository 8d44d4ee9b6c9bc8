import type { AgentEnvironment, EnvironmentObservation } from '../drivers/portainer/driver.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { Context, Handler } from './types.js';
import { noop } from './types.js';
import { decideNotReady, whenReady, type Readiness } from './not-ready.js';

type EnvSpec = Extract<ResourceNode['spec'], { kind: 'portainer-environment' }>;

function spec(node: ResourceNode): EnvSpec {
  if (node.spec.kind !== 'portainer-environment')
    throw new Error(`${node.id} is not a Portainer environment`);
  return node.spec;
}

/** The agent's address as the target sees it (the lab moves it into 127/8), read from the context. */
function wanted(ctx: Context, s: EnvSpec): AgentEnvironment | undefined {
  if (!s.agent) return undefined;
  const ip = ctx.inventory.guests.get(s.guest)?.ip;
  return { name: s.name, host: ip && ip !== 'dhcp' ? ip : s.agent.address, port: s.agent.port };
}

async function observe(ctx: Context, s: EnvSpec): Promise<EnvironmentObservation | undefined> {
  return ctx.drivers.portainer.getEnvironment(s.name, wanted(ctx, s));
}

/**
 * A Portainer environment, found by name: an agent's is registered once (form-encoded, as the API wants) and
 * found again on every later run; the server's local one is Portainer's own and only checked.
 */
export const portainerEnvironmentHandler: Handler<Readiness<EnvironmentObservation | undefined>> = {
  kind: 'portainer-environment',
  read: (ctx, node) => whenReady(() => observe(ctx, spec(node))),
  decide(node, observed, upstream) {
    const s = spec(node);
    if (!('value' in observed))
      return decideNotReady(observed.notReady, upstream, `register environment ${s.name}`);
    const seen = observed.value;
    if (!s.agent) {
      return seen
        ? noop(`Portainer's local environment ${s.name} exists`)
        : { action: 'create', reason: `Portainer has no local environment "${s.name}" yet` };
    }
    if (!seen)
      return { action: 'create', reason: `register the agent on guest ${s.guest} as environment ${s.name}` };
    if (seen.drift.length)
      return { action: 'update', reason: `environment ${s.name} differs: ${seen.drift.join('; ')}` };
    return noop(`environment ${s.name} is registered (${seen.url})`);
  },
  async apply(ctx, node, decision) {
    const s = spec(node);
    const agent = wanted(ctx, s);
    if (!agent) return; // Portainer creates its local environment at start; verify says whether it did
    if (decision.action === 'update') {
      throw new DriverError(
        `${decision.reason}; Phoenix does not re-point an environment that stacks may use: fix or remove it in Portainer`,
      );
    }
    await ctx.drivers.portainer.ensureEnvironment(agent);
  },
  async verify(ctx, node) {
    const s = spec(node);
    const seen = await observe(ctx, s);
    if (!seen) {
      throw new DriverError(
        s.agent
          ? `environment ${s.name} is not in Portainer after registering it`
          : `Portainer has no local environment "${s.name}": start it with -H unix:///var/run/docker.sock`,
      );
    }
    if (seen.drift.length) throw new DriverError(`environment ${s.name} differs: ${seen.drift.join('; ')}`);
  },
};
