import type { Diagnostic, Diagnostics } from './config/diagnostics.js';
import { loadConfigDir, type RawConfig } from './config/load.js';
import { runRules } from './config/rules/index.js';
import { buildGraph } from './graph/build.js';
import { checkGraph } from './graph/checks.js';
import type { ResourceGraph } from './graph/types.js';
import { buildInventory } from './model/build.js';
import type { Inventory } from './model/inventory.js';

export interface Analysis {
  readonly raw: RawConfig;
  readonly inventory?: Inventory;
  readonly graph?: ResourceGraph;
  readonly diagnostics: Diagnostics;
}

/** config → inventory → rules → graph → static checks. Every stage reports into one bag; nothing is executed. */
export async function analyse(configDir: string): Promise<Analysis> {
  const { raw, diagnostics } = await loadConfigDir(configDir);
  const inventory = buildInventory(raw, diagnostics);
  let graph: ResourceGraph | undefined;
  if (inventory) {
    runRules(inventory, raw, diagnostics);
    graph = buildGraph(inventory, diagnostics);
    checkGraph(graph, diagnostics);
  }
  locate(raw, diagnostics.items);
  return { raw, inventory, graph, diagnostics };
}

/** Fills in line:column from each diagnostic's JSON pointer, then sorts by place. */
function locate(raw: RawConfig, items: Diagnostic[]): void {
  for (const d of items) {
    if (d.line !== undefined) continue;
    const src = raw.sources.get(d.file);
    if (!src) continue;
    try {
      const pos = d.pointer ? src.locate(d.pointer) : { line: 1, column: 1 };
      d.line = pos.line;
      d.column = pos.column;
    } catch {
      // A file that failed to parse has no tree to point into; the diagnostic stays without a position.
    }
  }
  items.sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      a.message.localeCompare(b.message),
  );
}
