import type { ResourceGraph } from '../graph/types.js';
import { UsageError } from './commands/engine-options.js';

/**
 * What a user may name on `sync` and `plan`: `all`, resource ids, a bare number for a guest, and the
 * original tool's phrase `stack NAME [to VMID]` (a stack as its docker_stacks entries deploy it; without
 * `to`, on every VM that deploys it). Returns resource ids; unknown ones are the caller's to report.
 */
export function resolveSelection(graph: ResourceGraph, words: readonly string[]): string[] {
  const ids: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word !== 'stack') {
      ids.push(/^\d+$/.test(word) ? `guest/${word}` : word);
      continue;
    }
    const name = words[i + 1];
    if (name === undefined)
      throw new UsageError('`stack` needs a stack name: phoenix sync stack NAME [to VMID]');
    i++;
    let vmid: string | undefined;
    if (words[i + 1] === 'to') {
      vmid = words[i + 2];
      if (vmid === undefined || !/^\d+$/.test(vmid))
        throw new UsageError(`\`stack ${name} to\` needs a VM id: phoenix sync stack ${name} to VMID`);
      i += 2;
    }
    ids.push(...stackIds(graph, name, vmid));
  }
  return ids;
}

function stackIds(graph: ResourceGraph, name: string, vmid: string | undefined): string[] {
  const deployed = [...graph.nodes.values()]
    .filter((n) => n.spec.kind === 'stack' && n.spec.stack.name === name)
    .map((n) => n.id);
  if (deployed.length === 0) {
    const known = [
      ...new Set(
        [...graph.nodes.values()].flatMap((n) => (n.spec.kind === 'stack' ? [n.spec.stack.name] : [])),
      ),
    ];
    throw new UsageError(
      `no VM deploys a stack named "${name}" (stacks in docker_stacks: ${known.join(', ') || 'none'})`,
    );
  }
  if (vmid === undefined) return deployed;
  const id = `stack/${vmid}:${name}`;
  if (!deployed.includes(id)) {
    const on = deployed.map((d) => d.slice('stack/'.length, d.indexOf(':'))).join(', ');
    throw new UsageError(
      `VM ${vmid} does not deploy stack "${name}": add it to that VM's docker_stacks first (it is deployed to ${on})`,
    );
  }
  return [id];
}
