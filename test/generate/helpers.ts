import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { analyse } from '../../src/analyse.js';
import type { Inventory } from '../../src/model/inventory.js';
import {
  analyseFixture,
  baseHypervisor,
  baseLxc,
  lxc,
  vm,
  type FixtureFiles,
} from '../helpers/config-fixture.js';

export const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

let example: Promise<Inventory> | undefined;

/** The example topology's inventory, analysed once per test file. */
export function exampleInventory(): Promise<Inventory> {
  return (example ??= analyse(EXAMPLE).then((a) => {
    assert.equal(a.diagnostics.errorCount, 0, 'the example must be valid');
    return a.inventory!;
  }));
}

export async function fixtureInventory(files: FixtureFiles): Promise<Inventory> {
  const a = await analyseFixture(files);
  assert.ok(a.inventory, `fixture did not build: ${a.diagnostics.items.map((d) => d.message).join('; ')}`);
  return a.inventory;
}

/** Gateway 101 (10.0.0.153), step-ca 103, Traefik 102 (10.0.0.12), plus whatever the test adds. */
export function meshLxc(extra: Record<string, unknown> = {}): { lxc_configs: Record<string, unknown> } {
  return {
    lxc_configs: {
      ...baseLxc().lxc_configs,
      '102': lxc('traefik', '10.0.0.12', { features: ['traefik'] }),
      ...extra,
    },
  };
}

export { baseHypervisor, lxc, vm };

/** The `server { ... }` blocks of an nginx file, each as its text (brace counting; enough for generated files). */
export function serverBlocks(conf: string): string[] {
  const blocks: string[] = [];
  let at = conf.search(/^server \{$/m);
  while (at >= 0) {
    let depth = 0;
    let end = at;
    for (; end < conf.length; end++) {
      if (conf[end] === '{') depth++;
      else if (conf[end] === '}' && --depth === 0) break;
    }
    blocks.push(conf.slice(at, end + 1));
    const next = conf.slice(end + 1).search(/^server \{$/m);
    at = next < 0 ? -1 : end + 1 + next;
  }
  return blocks;
}

export function directive(block: string, name: string): string[] {
  return [...block.matchAll(new RegExp(`^\\s*${name} ([^;]*);`, 'gm'))].map((m) => m[1]!);
}
