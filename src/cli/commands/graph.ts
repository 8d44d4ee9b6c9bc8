import { analyse } from '../../analyse.js';
import { executionOrder, requiredClosure, subgraph } from '../../graph/order.js';
import { renderGraph, type GraphFormat } from '../../graph/render.js';
import { formatDiagnostic } from '../diagnostics.js';
import { EXIT } from '../exit-codes.js';
import { styleFor } from '../style.js';

export interface GraphOptions {
  configDir: string;
  format: GraphFormat;
  order?: boolean;
}

export async function graphCommand(ids: string[], opts: GraphOptions): Promise<number> {
  const { graph, diagnostics } = await analyse(opts.configDir);
  const style = styleFor(process.stderr);
  if (diagnostics.errorCount || !graph) {
    for (const d of diagnostics.items)
      if (d.severity === 'error') process.stderr.write(formatDiagnostic(d, style) + '\n');
    process.stderr.write(
      `phoenix graph: the configuration has ${diagnostics.errorCount} error(s); run \`phoenix validate\` for details\n`,
    );
    return EXIT.invalid;
  }
  const unknown = ids.filter((id) => !graph.nodes.has(id));
  if (unknown.length) {
    process.stderr.write(`phoenix graph: unknown resource id(s): ${unknown.join(', ')}\n`);
    const kinds = [...new Set([...graph.nodes.keys()].map((k) => k.split('/')[0]))].join(', ');
    process.stderr.write(`  ids look like guest/101 or cert/<name>; kinds in this graph: ${kinds}\n`);
    return EXIT.invalid;
  }
  const selected = ids.length ? subgraph(graph, requiredClosure(graph, ids)) : graph;
  if (opts.order) {
    process.stdout.write(executionOrder(selected).join('\n') + '\n');
  } else {
    process.stdout.write(renderGraph(selected, opts.format));
  }
  return EXIT.ok;
}
