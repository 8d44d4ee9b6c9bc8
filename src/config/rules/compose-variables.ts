import { pointer } from '../diagnostics.js';
import { describeOrigin, warnAtOffset, type RuleContext } from './context.js';
import { requiredVariables, type VariableUse } from './compose-text.js';

/**
 * A compose file's `${VAR}` must be defined by every environment of its stack: docker compose substitutes
 * an empty string for an unset variable and deploys anyway (a port mapping of ":" fails only at start).
 */
export function checkComposeVariables({ inv, raw, diags }: RuleContext): void {
  for (const stack of inv.stacks.values()) {
    const src = raw.sources.get(stack.composeFile);
    if (!src) continue;
    const uses = new Map<string, VariableUse[]>();
    for (const use of requiredVariables(src.text)) uses.set(use.name, [...(uses.get(use.name) ?? []), use]);
    const stackFile = raw.stacks.get(stack.name)?.file ?? stack.origin.file;

    for (const [envName, env] of Object.entries(stack.config.environments)) {
      const defined = new Set((env.variables ?? []).map((v) => v.name));
      for (const [name, all] of uses) {
        if (defined.has(name)) continue;
        const place = describeOrigin(
          { file: stackFile, pointer: pointer('environments', envName, 'variables') },
          inv.configDir,
        );
        const times = all.length > 1 ? ` (${all.length} times; this is the first)` : '';
        warnAtOffset(
          diags,
          src,
          stack.composeFile,
          all[0]!.offset,
          'stack.undefined-variable',
          `the compose file of stack "${stack.name}" uses \${${name}}${times}, which environment "${envName}" does not ` +
            `define; docker compose would substitute an empty string. Add {"name":"${name}","value":"…"} to ${place}.`,
        );
      }
    }
  }
}
