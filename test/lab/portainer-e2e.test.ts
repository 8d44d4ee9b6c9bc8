import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { PortainerApiDriver } from '../../src/drivers/portainer/api-driver.js';
import { labPortainerSecrets } from '../../src/lab/services/portainer.js';
import { assertRan, EXAMPLE, labPhoenix, labSkipReason, newLabDir } from '../helpers/lab.js';

/**
 * Issue 8 on the lab, through the real CLI: a fresh `sync all` of the example brings up the Docker side in
 * dependency order against the Portainer emulator the lab runs as the server's container (serving the
 * certificate Phoenix issued), the second changes nothing, Portainer answers through the gateway and the
 * mesh, and neither the admin password nor the agent secret appears in any output, log or journal.
 */

const skip = await labSkipReason();
const HOSTNAME = 'portainer.internal.thinkheads.ai';

interface NodeEnd {
  type: string;
  id?: string;
  outcome?: string;
}

function events(stdout: string): NodeEnd[] {
  return stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as NodeEnd);
}

/** GET through the gateway (nginx → Traefik stand-in → Portainer), verified against the lab root. */
function viaGateway(path: string, rootPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: '127.0.0.153',
        port: 443,
        path,
        servername: HOSTNAME,
        headers: { host: HOSTNAME },
        ca: rootPem,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    r.once('error', reject);
    r.setTimeout(5000, () => r.destroy(new Error('timeout')));
    r.end();
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

test(
  'lab: sync all brings up volume → Portainer → admin → agent → environment → stacks, verified; secrets never shown',
  { skip, timeout: 600_000 },
  async (t) => {
    const lab = await newLabDir();
    t.after(async () => {
      await labPhoenix(EXAMPLE, lab, 'lab', 'down');
      await rm(lab, { recursive: true, force: true });
    });
    assertRan(await labPhoenix(EXAMPLE, lab, 'lab', 'up'), 'lab up');
    const first = await labPhoenix(EXAMPLE, lab, 'sync', 'all', '--json', '--verbose');
    assertRan(first, 'sync all');
    const ends = events(first.stdout).filter((e) => e.type === 'node-end');
    const at = (id: string) => {
      const i = ends.findIndex((e) => e.id === id);
      assert.ok(i >= 0 && ends[i]!.outcome === 'ok', `${id} ran and succeeded`);
      return i;
    };
    const chain = [
      'volume/1001:portainer_data_nfs',
      'stack/1001:portainer_service',
      'portainer/1001',
      'portainer-admin/1001',
      'portainer-env/drphoenix',
      'volume/1002:qdrant_data_nfs',
      'stack/1002:qdrant_service',
    ];
    for (let i = 1; i < chain.length; i++)
      assert.ok(at(chain[i - 1]!) < at(chain[i]!), `${chain[i - 1]} before ${chain[i]}`);
    assert.ok(at('portainer-agent/1002') < at('portainer-env/drphoenix'));
    assert.ok(
      at('file/1001:/persistent-storage/portainer/certs/portainer.crt') < at('stack/1001:portainer_service'),
    );

    const second = await labPhoenix(EXAMPLE, lab, 'sync', 'all');
    assertRan(second, 'second sync all');
    assert.match(second.stdout + second.stderr, / 0 ok, \d+ unchanged, 0 failed, 0 skipped/);

    // What Portainer holds, asked through its API with the lab's admin password.
    const rootPem = await readFile(join(lab, 'ca/certs/root_ca.crt'), 'utf8');
    const secrets = await labPortainerSecrets(lab);
    const api = new PortainerApiDriver({
      baseUrl: 'https://127.0.0.111:9443',
      servername: HOSTNAME,
      caPem: () => Promise.resolve(rootPem),
      adminUser: 'admin',
      secrets: {
        read: (n) =>
          Promise.resolve(n === 'portainer-admin-password' ? secrets.adminPassword : secrets.agentSecret),
      },
    });
    assert.equal(await api.adminExists(), true);
    assert.equal((await api.getEnvironment('drphoenix'))?.url, 'tcp://127.0.0.102:9001');
    const qdrant = await api.getStack('drphoenix', 'qdrant_service');
    assert.ok(qdrant && qdrant.services.every((s) => s.running), 'qdrant_service runs');
    assert.deepEqual((await api.listVolumes('drphoenix')).map((v) => v.name).sort(), [
      'qdrant_data_nfs',
      'thinkheads_ai_app_data_nfs',
    ]);

    // Reachable through the gateway: nginx terminates TLS, the mesh forwards to the emulator.
    const through = await viaGateway('/api/status', rootPem);
    assert.equal(through.status, 200, through.body);
    assert.match(through.body, /Version/);

    const status = await labPhoenix(EXAMPLE, lab, 'lab', 'status');
    assert.match(status.stdout, /EMULATED\s+portainer[^\n]*https:\/\/127\.0\.0\.111:9443[^\n]*running/);

    const history = await labPhoenix(EXAMPLE, lab, 'history', 'last', '--json');
    const texts = [first.stdout, first.stderr, second.stdout, second.stderr, status.stdout, history.stdout];
    // Every file of the lab but the secrets themselves (and step-ca's binary): guests, logs, journal, state.
    for (const file of await filesUnder(lab)) {
      if (file.startsWith(`${join(lab, 'secrets')}/`) || file.endsWith('/opt/step-ca/step-ca')) continue;
      texts.push((await readFile(file)).toString('latin1'));
    }
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value.length >= 32);
      assert.ok(
        !texts.some((x) => x.includes(value)),
        `${what} appears in an output, log, journal or state file`,
      );
    }
  },
);
