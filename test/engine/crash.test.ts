import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Journal } from '../../src/engine/journal.js';
import { memorySyncArgs, phoenix, spawnPhoenix } from '../helpers/cli.js';
import { installedPairsMatchStore, worldView } from '../helpers/world-view.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const args = (state: string) => memorySyncArgs(EXAMPLE, state, 10);

/**
 * Starts a sync and kills it with SIGKILL just after it announced its `k`-th action: the kill lands at a
 * point of progress, not of time, so it lands mid-run however fast the machine is.
 */
function killedAtAction(state: string, k: number): Promise<'killed' | 'finished'> {
  return new Promise((resolve) => {
    const child = spawnPhoenix(args(state));
    child.stderr.resume();
    let seen = 0;
    child.stdout.on('data', (d: Buffer) => {
      seen += (d.toString().match(/ start /g) ?? []).length;
      if (seen >= k) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => resolve(signal === 'SIGKILL' ? 'killed' : 'finished'));
  });
}

const INSTALLS = [
  {
    cert: 'nginx.internal.thinkheads.ai',
    guest: '101',
    key: '/etc/nginx/ssl/nginx.internal.thinkheads.ai.key',
    crt: '/etc/nginx/ssl/nginx.internal.thinkheads.ai.crt',
  },
  {
    cert: 'portainer.internal.thinkheads.ai',
    guest: '1001',
    key: '/persistent-storage/portainer/certs/portainer.key',
    crt: '/persistent-storage/portainer/certs/portainer.crt',
  },
  {
    cert: 'traefik.internal.thinkheads.ai',
    guest: '102',
    key: '/etc/traefik/certs/traefik.internal.thinkheads.ai.key',
    crt: '/etc/traefik/certs/traefik.internal.thinkheads.ai.crt',
  },
];

test('killed with SIGKILL at random points, sync always converges to the same state, with nothing lost', async () => {
  const reference = mkdtempSync(join(tmpdir(), 'phoenix-ref-'));
  try {
    const clean = phoenix(args(reference));
    assert.equal(clean.status, 0, clean.stderr);
    let kills = 0;
    // Each round starts from nothing, is killed twice at random points of a run, then runs to the end.
    for (let round = 0; round < 8; round++) {
      const crashed = mkdtempSync(join(tmpdir(), 'phoenix-crash-'));
      try {
        let invocations = 0;
        for (let k = 0; k < 2; k++) {
          invocations++;
          // A fresh run announces ~47 actions; the resumed one fewer.
          if (
            (await killedAtAction(crashed, 1 + Math.floor(Math.random() * (k === 0 ? 45 : 15)))) === 'killed'
          )
            kills++;
        }
        invocations++;
        const final = phoenix(args(crashed));
        assert.equal(
          final.status,
          0,
          `the run after the crashes must succeed:\n${final.stdout}\n${final.stderr}`,
        );
        assert.deepEqual(
          worldView(crashed),
          worldView(reference),
          'same final state as an uninterrupted run',
        );
        assert.deepEqual(installedPairsMatchStore(crashed, INSTALLS), []);
        invocations++;
        assert.match(
          phoenix(args(crashed)).stdout,
          /: 0 ok, \d+ unchanged, 0 failed, 0 skipped/,
          'converged: nothing left to do',
        );
        const journal = Journal.open(join(crashed, 'journal.sqlite'));
        try {
          const runs = journal.listRuns(100);
          // A process killed while still starting up never reached its first write; every other run is recorded.
          assert.ok(
            runs.length >= 2 && runs.length <= invocations,
            `${runs.length} runs journalled of ${invocations}`,
          );
          assert.ok(
            runs.filter((r) => r.outcome === 'ok').length >= 2,
            'the completed runs are recorded as ok',
          );
          assert.deepEqual(
            runs.filter((r) => r.outcome !== 'ok' && r.outcome !== 'crashed'),
            [],
            'killed runs are marked crashed; none is left looking alive',
          );
        } finally {
          journal.close();
        }
      } finally {
        rmSync(crashed, { recursive: true, force: true });
      }
    }
    assert.ok(kills >= 8, `expected every first kill of a round to land mid-run, got ${kills} of 16`);
  } finally {
    rmSync(reference, { recursive: true, force: true });
  }
});
