import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/', import.meta.url));

/** Compares with test/golden/<name>; `UPDATE_GOLDEN=1 npm test` rewrites the files after a deliberate change. */
export function assertGolden(name: string, actual: string): void {
  const path = GOLDEN_DIR + name;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) {
    if (process.env.CI && !existsSync(path))
      assert.fail(`golden file ${name} is missing; run UPDATE_GOLDEN=1 npm test`);
    writeFileSync(path, actual);
    return;
  }
  assert.equal(
    actual,
    readFileSync(path, 'utf8'),
    `output differs from test/golden/${name} (UPDATE_GOLDEN=1 to accept)`,
  );
}
