import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { jsonSchemas } from '../../src/config/json-schema.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../../../shared/reference/original-config', import.meta.url));

const schemaFor: Record<string, string> = {
  'phoenix_hypervisor_config.json': 'phoenix_hypervisor_config.schema.json',
  'phoenix_lxc_configs.json': 'phoenix_lxc_configs.schema.json',
  'phoenix_vm_configs.json': 'phoenix_vm_configs.schema.json',
  'certificate-manifest.json': 'certificate-manifest.schema.json',
  'certificate-manifest.later-revision.json': 'certificate-manifest.schema.json',
};

function compile(name: string) {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });
  return ajv.compile(jsonSchemas().get(name) as object);
}

test('editors see the same rules: the generated JSON Schemas accept the example and the reference files', () => {
  const cases: Array<[string, string]> = [];
  for (const [file, schema] of Object.entries(schemaFor)) {
    for (const dir of [EXAMPLE, join(REFERENCE, 'etc')]) {
      try {
        cases.push([join(dir, file), schema]);
        readFileSync(join(dir, file));
      } catch {
        cases.pop();
      }
    }
  }
  for (const dir of [join(EXAMPLE, 'stacks'), join(REFERENCE, 'stacks')]) {
    for (const s of readdirSync(dir)) cases.push([join(dir, s, 'phoenix.json'), 'stack.schema.json']);
  }
  assert.ok(cases.length >= 12, `found ${cases.length} files`);
  for (const [file, schema] of cases) {
    const validate = compile(schema);
    const ok = validate(JSON.parse(readFileSync(file, 'utf8')));
    assert.ok(ok, `${file}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  }
});

test('the generated JSON Schemas reject what validate rejects', () => {
  const lxc = compile('phoenix_lxc_configs.schema.json');
  const good = {
    name: 'gw',
    memory_mb: 512,
    cores: 1,
    storage_pool: 'p',
    storage_size_gb: 8,
    network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.2/24' },
  };
  assert.equal(lxc({ lxc_configs: { '101': good } }), true);
  assert.equal(lxc({ lxc_configs: { '101': { ...good, name: 'bad name' } } }), false);
  assert.equal(lxc({ lxc_configs: { '101': { ...good, typo_field: 1 } } }), false);
  assert.equal(
    lxc({
      lxc_configs: { '101': { ...good, network_config: { ...good.network_config, ip: '10.0.0.256/24' } } },
    }),
    false,
  );
});
