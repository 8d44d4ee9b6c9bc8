import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  METRIC_FAMILIES,
  carryOver,
  escapeLabelValue,
  formatValue,
  parseMetrics,
  renderMetrics,
  unixSeconds,
  type CertsMetrics,
} from '../../src/certs/metrics.js';

const sample: CertsMetrics = {
  certificates: [
    {
      name: 'web.example',
      notAfterSeconds: 1798259099,
      renewalDueSeconds: 1797403719.2,
      lastRenewalSuccess: 1,
      lastRenewalTimestampSeconds: 1795667112.234,
    },
    {
      name: 'api.example',
      notAfterSeconds: 1798000000,
      renewalDueSeconds: 1797000000,
      lastRenewalSuccess: 0,
    },
    { name: 'never-issued' },
  ],
  lastRunTimestampSeconds: 1795667113.5,
};

test('renders every family with HELP and TYPE, samples sorted by name, a trailing newline', () => {
  const text = renderMetrics(sample);
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'));
  assert.equal(
    text,
    [
      "# HELP phoenix_certificate_not_after_seconds Expiry (notAfter) of the certificate in Phoenix's store, in Unix seconds.",
      '# TYPE phoenix_certificate_not_after_seconds gauge',
      'phoenix_certificate_not_after_seconds{name="api.example"} 1798000000',
      'phoenix_certificate_not_after_seconds{name="web.example"} 1798259099',
      '# HELP phoenix_certificate_renewal_due_seconds When the certificate enters its renewal window, in Unix seconds.',
      '# TYPE phoenix_certificate_renewal_due_seconds gauge',
      'phoenix_certificate_renewal_due_seconds{name="api.example"} 1797000000',
      'phoenix_certificate_renewal_due_seconds{name="web.example"} 1797403719.2',
      '# HELP phoenix_certificate_last_renewal_success Whether the last renewal run that worked on the certificate succeeded (issued if due, installed, reloaded, verified): 1 yes, 0 no.',
      '# TYPE phoenix_certificate_last_renewal_success gauge',
      'phoenix_certificate_last_renewal_success{name="api.example"} 0',
      'phoenix_certificate_last_renewal_success{name="web.example"} 1',
      '# HELP phoenix_certificate_last_renewal_timestamp_seconds When a renewal run last re-issued and delivered the certificate, in Unix seconds.',
      '# TYPE phoenix_certificate_last_renewal_timestamp_seconds gauge',
      'phoenix_certificate_last_renewal_timestamp_seconds{name="web.example"} 1795667112.234',
      '# HELP phoenix_certs_renew_last_run_timestamp_seconds When phoenix certs renew last ran, whatever its outcome, in Unix seconds.',
      '# TYPE phoenix_certs_renew_last_run_timestamp_seconds gauge',
      'phoenix_certs_renew_last_run_timestamp_seconds 1795667113.5',
      '',
    ].join('\n'),
  );
});

test('the output follows the exposition grammar: HELP, then TYPE, then samples of that family only', () => {
  const lines = renderMetrics(sample).trimEnd().split('\n');
  let family: string | undefined;
  for (const line of lines) {
    const help = /^# HELP ([a-z_]+) \S/.exec(line);
    const type = /^# TYPE ([a-z_]+) gauge$/.exec(line);
    if (help) {
      family = help[1];
      continue;
    }
    if (type) {
      assert.equal(type[1], family, 'TYPE follows its HELP');
      continue;
    }
    assert.match(line, /^[a-z_]+(\{name="(?:[^"\\\n]|\\["\\n])*"\})? [-+0-9.eE]+$/);
    assert.equal(line.split(/[{ ]/)[0], family, `${line} belongs to the family announced before it`);
  }
  assert.deepEqual(
    [...new Set(lines.filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]))],
    METRIC_FAMILIES.map((f) => f.metric),
  );
});

test('label values escape backslash, double quote and line feed', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = renderMetrics({ certificates: [{ name: 'we"ird\\na\nme', notAfterSeconds: 1 }] });
  assert.match(text, /^phoenix_certificate_not_after_seconds\{name="we\\"ird\\\\na\\nme"\} 1$/m);
  // Still one line per sample.
  assert.equal(text.split('\n').filter((l) => l.startsWith('phoenix_certificate_not_after')).length, 1);
});

test('values are written as Prometheus reads them', () => {
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(1.5), '1.5');
  assert.equal(unixSeconds(Date.parse('2026-01-01T00:00:00.250Z')), 1767225600.25);
});

test('a rendered file reads back to the same facts, odd names included', () => {
  const odd: CertsMetrics = {
    certificates: [...sample.certificates, { name: 'q"uo\\te\nnl', lastRenewalSuccess: 0 }],
    lastRunTimestampSeconds: 12,
  };
  const back = parseMetrics(renderMetrics(odd));
  const byName = (m: CertsMetrics) => [...m.certificates].sort((a, b) => a.name.localeCompare(b.name));
  // A certificate with no values has no samples, so it does not come back.
  assert.deepEqual(
    byName(back),
    byName(odd).filter((c) => c.name !== 'never-issued'),
  );
  assert.equal(back.lastRunTimestampSeconds, 12);
});

test('reading back skips what it does not understand', () => {
  const back = parseMetrics(
    [
      '# a comment',
      'garbage line',
      'other_metric{name="web.example"} 5',
      'phoenix_certificate_last_renewal_success{name="web.example"} 1',
      'phoenix_certificate_last_renewal_success{name="bad.example"} not-a-number',
      'phoenix_certificate_last_renewal_success{name="three.example"} 3',
      'phoenix_certificate_last_renewal_success{nom="x"} 1',
      'phoenix_certificate_last_renewal_timestamp_seconds{name="web.example"} 100 1700000000000',
    ].join('\n'),
  );
  assert.deepEqual(back, {
    certificates: [
      { name: 'web.example', lastRenewalSuccess: 1, lastRenewalTimestampSeconds: 100 },
      { name: 'three.example' },
    ],
  });
});

test('carryOver keeps the outcome of certificates this run did not touch, and only configured ones', () => {
  const previous = parseMetrics(renderMetrics(sample));
  const current: CertsMetrics = {
    certificates: [
      // Touched by this run: its own values win.
      {
        name: 'api.example',
        notAfterSeconds: 1799000000,
        lastRenewalSuccess: 1,
        lastRenewalTimestampSeconds: 50,
      },
      // Not touched: expiry is current, outcome and time are carried over.
      { name: 'web.example', notAfterSeconds: 1798259099 },
      // New.
      { name: 'new.example' },
    ],
    lastRunTimestampSeconds: 99,
  };
  const merged = carryOver(previous, current);
  assert.deepEqual(merged, {
    certificates: [
      {
        name: 'api.example',
        notAfterSeconds: 1799000000,
        lastRenewalSuccess: 1,
        lastRenewalTimestampSeconds: 50,
      },
      {
        name: 'web.example',
        notAfterSeconds: 1798259099,
        lastRenewalSuccess: 1,
        lastRenewalTimestampSeconds: 1795667112.234,
      },
      { name: 'new.example' },
    ],
    lastRunTimestampSeconds: 99,
  });
  // A certificate no longer configured (never-issued had nothing anyway; drop one that had values).
  const fewer = carryOver(previous, { certificates: [{ name: 'web.example' }] });
  assert.deepEqual(
    fewer.certificates.map((c) => c.name),
    ['web.example'],
  );
  assert.equal(carryOver(undefined, current), current);
  // A failure in this run is not hidden by an earlier success.
  const failed = carryOver(previous, { certificates: [{ name: 'web.example', lastRenewalSuccess: 0 }] });
  assert.equal(failed.certificates[0]!.lastRenewalSuccess, 0);
  assert.equal(failed.certificates[0]!.lastRenewalTimestampSeconds, 1795667112.234);
});
