import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsmasqConfig, dnsRecords } from '../../src/generate/dnsmasq.js';
import { answerFor, mergeRecords, parseDnsmasqRecords } from '../../src/generate/dnsmasq-parse.js';
import { exampleInventory } from './helpers.js';

test('the generated records read back to exactly the record table', async () => {
  const inv = await exampleInventory();
  const read = parseDnsmasqRecords(dnsmasqConfig(inv));
  const table = dnsRecords(inv);
  assert.deepEqual(
    [...read.hosts.entries()].map(([n, a]) => [n, a]).sort(),
    table.map((r) => [r.name, [r.address]]).sort(),
  );
  for (const r of table) assert.deepEqual(answerFor(read, r.name.toUpperCase()), [r.address]);
  assert.deepEqual(answerFor(read, 'nowhere.internal.thinkheads.ai'), []);
});

test('host-record forms dnsmasq accepts: several names, IPv6, TTL; address= covers subdomains', () => {
  const r = parseDnsmasqRecords(
    [
      '# comment',
      'domain-needed',
      'server=10.0.0.1',
      'host-record=a.example,b.example,10.0.0.5,fd00::5,300',
      'host-record=v6only.example,fd00::6',
      'address=/lab.example/10.0.0.7',
    ].join('\n'),
  );
  assert.deepEqual(answerFor(r, 'a.example'), ['10.0.0.5']);
  assert.deepEqual(answerFor(r, 'b.example'), ['10.0.0.5']);
  assert.deepEqual(answerFor(r, 'v6only.example'), []);
  assert.deepEqual(answerFor(r, 'deep.lab.example'), ['10.0.0.7']);
  const twice = mergeRecords([r, parseDnsmasqRecords('host-record=a.example,10.0.0.9\n')]);
  assert.deepEqual(answerFor(twice, 'a.example'), ['10.0.0.5', '10.0.0.9']);
});

test('a record dnsmasq would refuse fails with its line', () => {
  assert.throws(
    () => parseDnsmasqRecords('\nhost-record=10.0.0.1\n', 'x.conf'),
    /x\.conf line 2: host-record without a name/,
  );
  assert.throws(
    () => parseDnsmasqRecords('host-record=a b,10.0.0.1'),
    /line 1: "a b" is neither a name nor an address/,
  );
  assert.throws(() => parseDnsmasqRecords('host-record=a,10.0.0.1,10.0.0.2'), /two IPv4 addresses/);
  assert.throws(() => parseDnsmasqRecords('address=lab.example'), /needs \/domain\/address/);
});
