import { at, describeOrigin, guestLabel, type RuleContext } from './context.js';

/** `docker_stacks` entries must name a stack directory, and an environment its phoenix.json defines. */
export function checkStackDeployments({ inv, raw, diags }: RuleContext): void {
  const existing = [...raw.stacks.keys()];
  for (const g of inv.guests.values()) {
    if (g.kind !== 'vm') continue;
    g.stacks.forEach((dep, i) => {
      const loaded = raw.stacks.get(dep.stack);
      if (!loaded) {
        const found = raw.stacksDir
          ? existing.length
            ? `the stacks that exist are: ${existing.join(', ')}`
            : `${raw.stacksDir} holds no stacks`
          : `there is no stacks directory (looked for stacks/ inside and beside ${raw.dir})`;
        diags.error(
          dep.origin,
          'stack.unknown',
          `${guestLabel(g)} deploys stack "${dep.stack}", but there is no stacks/${dep.stack}/ directory; ${found}. ` +
            'Create the stack, or correct the name.',
        );
        return;
      }
      if (!loaded.config) return; // its phoenix.json failed to load, and that was reported there
      const environments = Object.keys(loaded.config.environments);
      if (environments.includes(dep.environment)) return;
      // Only the object form {name, environment} has a field to point at; a bare name implied the environment.
      const named = typeof g.config.docker_stacks?.[i] === 'object';
      const file = describeOrigin({ file: loaded.file, pointer: '' }, inv.configDir);
      const defined = environments.length ? environments.join(', ') : 'none';
      const how = named
        ? 'Use one of those, or add the environment to the stack.'
        : `A bare stack name means the stack's only environment, or "production" when it has several; name one: ` +
          `{"name":"${dep.stack}","environment":"${environments[0] ?? 'production'}"}.`;
      diags.error(
        named ? at(dep.origin, 'environment') : dep.origin,
        'stack.unknown-environment',
        `${guestLabel(g)} deploys stack "${dep.stack}" in environment "${dep.environment}", which ${file} does not ` +
          `define (it defines: ${defined}). ${how}`,
      );
    });
  }
}
