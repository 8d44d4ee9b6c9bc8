import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { agentCompose, deployedCompose } from '../../src/generate/compose-deploy.js';
import type { Stack } from '../../src/model/inventory.js';

const stackOf = (composeText: string, services: Record<string, { traefik_labels?: string[] }>): Stack =>
  ({
    name: 's',
    composeText,
    config: { environments: { production: { services } } },
  }) as unknown as Stack;

test('Traefik labels join a list of labels, the environment winning for the same key; comments stay', async () => {
  const text =
    '# mine\nservices:\n  web:\n    image: x:1 # pinned\n    labels:\n      - traefik.enable=false\n      - other=1\n';
  const out = await deployedCompose(
    stackOf(text, {
      web: { traefik_labels: ['traefik.enable=true', 'traefik.http.routers.w.rule=Host(`w.example`)'] },
    }),
    'production',
  );
  assert.match(out, /# mine/);
  assert.match(out, /# pinned/);
  assert.deepEqual(parse(out).services.web.labels, [
    'traefik.enable=true',
    'other=1',
    'traefik.http.routers.w.rule=Host(`w.example`)',
  ]);
});

test('labels given as a mapping stay a mapping; a service without labels gets a list', async () => {
  const text = 'services:\n  a:\n    image: x\n    labels:\n      keep: "1"\n  b:\n    image: y\n';
  const out = parse(
    await deployedCompose(
      stackOf(text, { a: { traefik_labels: ['traefik.enable=true'] }, b: { traefik_labels: ['t=1'] } }),
      'production',
    ),
  );
  assert.deepEqual(out.services.a.labels, { keep: '1', 'traefik.enable': 'true' });
  assert.deepEqual(out.services.b.labels, ['t=1']);
});

test('nothing to add returns the file byte for byte; the server gets AGENT_SECRET by interpolation only', async () => {
  const text = 'services:\n  portainer:\n    image: portainer/portainer-ce:2\n';
  assert.equal(await deployedCompose(stackOf(text, {}), 'production'), text);
  const out = await deployedCompose(stackOf(text, {}), 'production', { agentSecretService: 'portainer' });
  assert.deepEqual(parse(out).services.portainer.environment, ['AGENT_SECRET=${AGENT_SECRET}']);
});

test('the agent project publishes the configured port to 9001 and takes its secret from the environment', () => {
  const out = parse(
    agentCompose({
      guest: 1002,
      environment: 'drphoenix',
      address: '10.0.0.102',
      port: 9101,
      image: 'portainer/agent:2.21',
      origin: { file: 'f', pointer: '' },
    }),
  );
  assert.equal(out.services.agent.image, 'portainer/agent:2.21');
  assert.deepEqual(out.services.agent.ports, ['9101:9001']);
  assert.deepEqual(out.services.agent.environment, ['AGENT_SECRET=${AGENT_SECRET}']);
  assert.equal(out.services.agent.container_name, 'portainer_agent');
});
