import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, codes, find, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const compose = (lines: string[]) => lines.join('\n') + '\n';
const appCompose = compose([
  'services:', //                                    1
  '  app:', //                                       2
  '    image: example/app:1', //                     3
  '    # ports: ${COMMENTED_OUT}', //                4
  '    ports:', //                                   5
  '      - "${API_PORT}:${API_PORT}"', //            6
  '    environment:', //                             7
  '      - LEVEL=${LOG_LEVEL:-info}', //             8
  '      - PRICE=$$5', //                            9
  '      - MODE=$MODE', //                           10
  '    volumes:', //                                 11
  '      - app_data:/data', //                       12
  'volumes:', //                                     13
  '  app_data:', //                                  14
  '    external: true', //                           15
]);
const production = (variables: Array<{ name: string; value: string }>) => ({ production: { variables } });
const stack = (environments: unknown, volumes?: unknown) => ({
  app: { config: { environments, ...(volumes ? { volumes } : {}) }, compose: appCompose },
});
const vms = (ref: unknown) => ({ vms: [vm(1001, 'docker', '10.0.0.111', { docker_stacks: [ref] })] });
const allDefined = production([
  { name: 'API_PORT', value: '8000' },
  { name: 'MODE', value: 'prod' },
]);

test('a deployed stack whose environment defines every variable and declares every volume passes', async () => {
  const a = await analyseFixture({
    vm: vms('app'),
    stacks: stack(allDefined, { app_data: { driver: 'local' } }),
  });
  assert.deepEqual(
    codes(a).filter((c) => c.startsWith('stack.')),
    [],
  );
});

test('docker_stacks naming a stack without a directory is an error listing the stacks that exist', async () => {
  const vmFile = vms('ap');
  const a = await analyseFixture({ vm: vmFile, stacks: stack(allDefined) });
  const d = only(a, 'stack.unknown');
  assertAt(d, 'error', '/vms/0/docker_stacks/0', lineOf(vmFile, '"ap"'));
  assert.match(
    d.message,
    /deploys stack "ap", but there is no stacks\/ap\/ directory; the stacks that exist are: app\./,
  );
});

test('an environment the stack does not define is an error at the environment field', async () => {
  const vmFile = vms({ name: 'app', environment: 'staging' });
  const a = await analyseFixture({ vm: vmFile, stacks: stack(allDefined) });
  const d = only(a, 'stack.unknown-environment');
  assertAt(d, 'error', '/vms/0/docker_stacks/0/environment', lineOf(vmFile, '"staging"'));
  assert.match(
    d.message,
    /environment "staging", which stacks\/app\/phoenix\.json does not define \(it defines: production\)/,
  );
});

test('a bare stack name with several environments and no "production" asks for the environment', async () => {
  const a = await analyseFixture({ vm: vms('app'), stacks: stack({ blue: {}, green: {} }) });
  const d = only(a, 'stack.unknown-environment');
  assertAt(d, 'error', '/vms/0/docker_stacks/0');
  assert.match(d.message, /\{"name":"app","environment":"blue"\}/);
});

test('a compose variable the environment does not define is a warning at its first use', async () => {
  const a = await analyseFixture({
    vm: vms('app'),
    stacks: stack(production([{ name: 'MODE', value: 'prod' }])),
  });
  const d = only(a, 'stack.undefined-variable');
  assertAt(d, 'warning', '', 6);
  assert.equal(d.column, 10);
  assert.match(d.file, /stacks\/app\/docker-compose\.yml$/);
  assert.match(
    d.message,
    /uses \$\{API_PORT\} \(2 times; this is the first\), which environment "production" does not define/,
  );
  assert.match(d.message, /stacks\/app\/phoenix\.json \/environments\/production\/variables/);
});

test('$VAR without braces counts; defaults, $$ and comments do not', async () => {
  const a = await analyseFixture({
    vm: vms('app'),
    stacks: stack(production([{ name: 'API_PORT', value: '1' }])),
  });
  const found = find(a, 'stack.undefined-variable');
  assert.deepEqual(
    found.map((d) => [d.line, /\$\{(\w+)\}/.exec(d.message)?.[1]]),
    [[10, 'MODE']],
  );
});

test('an external volume the stack does not declare is a warning at its compose entry', async () => {
  const a = await analyseFixture({ vm: vms('app'), stacks: stack(allDefined) });
  const d = only(a, 'stack.undeclared-volume');
  assertAt(d, 'warning', '', 14);
  assert.match(
    d.message,
    /external volume "app_data" of stack "app" is not declared in the "volumes" of stacks\/app\/phoenix\.json; Phoenix will create it as a local volume on VM 1001 "docker" before the stack/,
  );
});
