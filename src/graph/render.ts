import type { ResourceGraph, ResourceNode } from './types.js';

export type GraphFormat = 'mermaid' | 'dot' | 'json';

/** Renders the graph with edges pointing from a requirement to what needs it (the direction work flows). */
export function renderGraph(graph: ResourceGraph, format: GraphFormat): string {
  switch (format) {
    case 'mermaid':
      return mermaid(graph);
    case 'dot':
      return dot(graph);
    case 'json':
      return JSON.stringify(toJson(graph), null, 2) + '\n';
  }
}

function edges(graph: ResourceGraph): Array<[string, string, boolean]> {
  const out: Array<[string, string, boolean]> = [];
  for (const node of graph.nodes.values()) {
    for (const req of node.requires)
      if (graph.nodes.has(req)) out.push([req, node.id, node.triggers.includes(req)]);
  }
  return out;
}

function mermaid(graph: ResourceGraph): string {
  const key = new Map([...graph.nodes.keys()].map((id, i) => [id, `n${i}`]));
  const lines = ['flowchart LR'];
  for (const node of graph.nodes.values())
    lines.push(`  ${key.get(node.id)}["${escapeMermaid(node.id)}"]:::${node.kind}`);
  for (const [from, to, trigger] of edges(graph))
    lines.push(`  ${key.get(from)} ${trigger ? '-.->' : '-->'} ${key.get(to)}`);
  return lines.join('\n') + '\n';
}

function escapeMermaid(s: string): string {
  return s.replace(/"/g, '#quot;');
}

function dot(graph: ResourceGraph): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['digraph phoenix {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
  for (const node of graph.nodes.values())
    lines.push(`  ${q(node.id)} [label=${q(node.id)}, tooltip=${q(node.label)}];`);
  for (const [from, to, trigger] of edges(graph))
    lines.push(`  ${q(from)} -> ${q(to)}${trigger ? ' [style=dashed]' : ''};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

export interface GraphJson {
  nodes: Array<{
    id: string;
    kind: string;
    label: string;
    requires: string[];
    triggers: string[];
    owns: string[];
    origin?: string;
  }>;
}

function toJson(graph: ResourceGraph): GraphJson {
  return { nodes: [...graph.nodes.values()].map(nodeJson) };
}

function nodeJson(n: ResourceNode): GraphJson['nodes'][number] {
  return {
    id: n.id,
    kind: n.kind,
    label: n.label,
    requires: [...n.requires],
    triggers: [...n.triggers],
    owns: n.owns.map((o) => `${o.guest}:${o.path}`),
    ...(n.origin ? { origin: `${n.origin.file}#${n.origin.pointer}` } : {}),
  };
}
