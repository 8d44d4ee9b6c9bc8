import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_CONFIG_BYTES,
  MAX_JSON_DEPTH,
  parseJson,
  readSource,
  SourceError,
  SourceFile,
} from '../../src/config/source.js';

const dir = mkdtempSync(join(tmpdir(), 'phoenix-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, data: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

function sourceError(fn: () => unknown): SourceError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SourceError, `expected SourceError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

test('invalid JSON is located at the offending character', () => {
  const src = readSource(write('bad.json', '{\n  "a": 1,\n  "b": ,\n}\n'), 'bad.json');
  const e = sourceError(() => parseJson(src));
  assert.match(e.message, /invalid JSON: value expected/);
  assert.deepEqual(src.position(e.offset!), { line: 3, column: 8 });
});

test('a trailing comma is an error, not silently accepted', () => {
  const src = readSource(write('trailing.json', '{"a": [1, 2,]}'), 'trailing.json');
  assert.match(sourceError(() => parseJson(src)).message, /invalid JSON/);
});

test('binary data is refused with the offset of the first NUL', () => {
  const e = sourceError(() =>
    readSource(write('bin.json', Buffer.from([0x7b, 0x00, 0xff, 0x7d])), 'bin.json'),
  );
  assert.match(e.message, /binary data/);
  assert.equal(e.offset, 1);
});

test('invalid UTF-8 is refused', () => {
  const e = sourceError(() =>
    readSource(write('latin1.json', Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d])), 'latin1.json'),
  );
  assert.match(e.message, /not valid UTF-8/);
});

test('a file larger than the limit is refused before it is read', () => {
  const p = write('huge.json', Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
  assert.match(sourceError(() => readSource(p, 'huge.json')).message, /config files are limited to/);
});

test('deeply nested JSON is refused without exhausting the stack', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const src = readSource(write('deep.json', deep), 'deep.json');
  const e = sourceError(() => parseJson(src));
  assert.match(e.message, new RegExp(`nests deeper than ${MAX_JSON_DEPTH}`));
  assert.equal(e.offset, MAX_JSON_DEPTH);
});

test('brackets inside strings do not count as nesting', () => {
  const src = readSource(write('strings.json', JSON.stringify({ s: '['.repeat(500) })), 'strings.json');
  assert.deepEqual(parseJson(src), { s: '['.repeat(500) });
});

test('a directory or a missing path gives a plain message', () => {
  mkdirSync(join(dir, 'adir'), { recursive: true });
  assert.match(sourceError(() => readSource(join(dir, 'adir'), 'adir')).message, /is not a regular file/);
  assert.match(sourceError(() => readSource(join(dir, 'nope.json'), 'nope.json')).message, /does not exist/);
});

test('a UTF-8 byte order mark is tolerated', () => {
  const src = readSource(write('bom.json', '\uFEFF{"a": 1}'), 'bom.json');
  assert.deepEqual(parseJson(src), { a: 1 });
});

test('pointers resolve to the line of the property key', () => {
  const text =
    '{\n  "lxc_configs": {\n    "101": {\n      "name": "gw",\n      "deps": [1, 2]\n    }\n  }\n}\n';
  const src = new SourceFile('x', 'x', text);
  assert.deepEqual(src.locate('/lxc_configs/101/name'), { line: 4, column: 7 });
  assert.deepEqual(src.locate('/lxc_configs/101/deps/1'), { line: 5, column: 19 });
  // A pointer past what exists lands on the deepest existing ancestor.
  assert.deepEqual(src.locate('/lxc_configs/101/missing'), { line: 3, column: 5 });
});
