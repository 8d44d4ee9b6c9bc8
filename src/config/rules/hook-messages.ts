import type { HookAnalysis, HookDeploy, HookWrite } from '../legacy/hooks.js';
import type { Inventory } from '../../model/inventory.js';
import { describeOrigin, formatMode, refLabel } from './context.js';
import { disagreement, type Collision } from './hook-writes.js';

/** The texts of the legacy-hook diagnostics; the rule in legacy-hooks.ts decides when each applies. */

const VERBS: Record<HookWrite['what'], string> = {
  content: 'replaces',
  owner: 'changes the owner of',
  mode: 'sets the mode of',
};

export function secondWriterMessage({ owned, writes }: Collision, inv: Inventory): string {
  const { cert, file } = owned;
  const kinds = (['content', 'owner', 'mode'] as const).filter((k) => writes.some((w) => w.what === k));
  const verbs = listing(kinds.map((k) => VERBS[k]));
  const { guest, path, hostPath } = file.location;
  const through = hostPath !== undefined && hostPath !== path ? ` (host path ${hostPath})` : '';
  const commands = [...new Set(writes.map((w) => JSON.stringify(w.command)))].join(', ');
  const declared = `${describeOrigin(file.origin, inv.configDir)}, mode ${formatMode(file.mode)}, owner ${file.owner}:${file.group}`;
  const conflicts = [...new Set(writes.flatMap((w) => disagreement(w, file) ?? []))];
  const disagree = conflicts.length ? `, and they disagree: the hook sets ${conflicts.join(' and ')}` : '';
  const fix = kinds.includes('content')
    ? 'Phoenix installs the file itself, atomically and with its declared owner and mode.'
    : 'Phoenix sets owner and mode when it installs the file.';
  return (
    `post_renewal_command ${verbs} ${guest}:${path}${through} (${commands}), which certificate "${cert.name}" ` +
    `already owns (${declared}): two writers of one fact${disagree}. Remove it from the hook; ${fix}`
  );
}

export function deployMessage(deploys: readonly HookDeploy[], inv: Inventory): string {
  const where = [
    ...new Set(deploys.map((d) => `${JSON.stringify(d.command)} in ${refLabel(d.guest, inv)}`)),
  ].join(', ');
  const vm = deploys
    .map((d) => (d.guest === 'host' ? undefined : inv.guests.get(d.guest)))
    .find((g) => g?.kind === 'vm');
  const stacks =
    vm?.kind === 'vm' && vm.stacks.length
      ? ` (${refLabel(vm.id, inv)} already deploys ${vm.stacks.map((s) => s.stack).join(', ')})`
      : '';
  const guest = vm?.id ?? '…';
  return (
    `post_renewal_command deploys containers (${where}): the analysis's second failure, where a renewal hook started ` +
    "a stack before the volume it needed existed. Deployments belong to stacks (stacks/<name>/ plus the VM's " +
    `"docker_stacks")${stacks}, which Phoenix orders after the volumes they need. Remove the deployment from the ` +
    `hook; if a container must pick up the new certificate, use {"type":"restart-container","guest":${guest},` +
    '"container":"…"} as its "follow_up".'
  );
}

export function untypedMessage(analysis: HookAnalysis, collided: readonly Collision[]): string {
  const suggestions = suggestedFollowUps(analysis);
  const suggestion =
    suggestions.length === 1
      ? ` Declare it as a typed "follow_up": ${suggestions[0]}.`
      : suggestions.length > 1
        ? ` Declare it as a typed "follow_up": [${suggestions.join(', ')}].`
        : ' Declare what must happen as a typed "follow_up" (reload-service or restart-container), or {"type":"none"}.';
  const reported = new Set(collided.flatMap((c) => c.writes));
  const unowned = [
    ...new Set(analysis.writes.filter((w) => !reported.has(w)).map((w) => `${w.guest}:${w.path}`)),
  ];
  const writes = unowned.length
    ? ` It also writes files no certificate installs (${unowned.join(', ')}); declare those as an "install" target ` +
      'so that Phoenix writes them with their owner and mode.'
    : '';
  const problems = analysis.problems.length
    ? ` Parts of it could not be analysed: ${analysis.problems.join('; ')}.`
    : '';
  return (
    'post_renewal_command is a shell hook, and Phoenix never runs one: what it does after a renewal will not ' +
    `happen.${suggestion}${writes}${problems}`
  );
}

const SYSTEMCTL_VERBS = new Set([
  'reload',
  'restart',
  'reload-or-restart',
  'try-restart',
  'try-reload-or-restart',
]);

/** The typed follow-ups a hook's `systemctl reload|restart X` and `docker restart X` commands stand for. */
export function suggestedFollowUps(analysis: HookAnalysis): string[] {
  const out = new Set<string>();
  const literal = (s: string | undefined): s is string =>
    s !== undefined && /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/.test(s);
  for (const { guest, argv } of analysis.commands) {
    const [program = '', verb = '', ...rest] = argv;
    const name = program.slice(program.lastIndexOf('/') + 1);
    const operands = rest.filter((a) => !a.startsWith('-'));
    if (name === 'systemctl' && SYSTEMCTL_VERBS.has(verb)) {
      for (const unit of operands.filter(literal)) {
        const service = unit.replace(/\.service$/, '');
        out.add(JSON.stringify({ type: 'reload-service', guest, service }));
      }
    }
    if (name === 'docker' && verb === 'restart' && guest !== 'host') {
      for (const container of operands.filter(literal)) {
        out.add(JSON.stringify({ type: 'restart-container', guest, container }));
      }
    }
  }
  return [...out];
}

/** "a", "a and b", "a, b and c" */
function listing(items: readonly string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items.at(-1)}` : (items[0] ?? '');
}
