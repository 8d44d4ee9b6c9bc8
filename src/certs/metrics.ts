/**
 * The metrics `phoenix certs renew --metrics-file` leaves for node_exporter's textfile collector, in the
 * Prometheus text exposition format (version 0.0.4). Pure: rendering, reading a previous file back, and
 * carrying values over for certificates a run did not touch. Writing the file is the caller's job.
 */

/** Every value is optional: a certificate not issued yet has no expiry; one never renewed has no outcome. */
export interface CertificateMetrics {
  readonly name: string;
  /** Unix seconds. */
  readonly notAfterSeconds?: number;
  /** When the certificate enters its renewal window (renewalDue), Unix seconds. */
  readonly renewalDueSeconds?: number;
  /** 1 when the last renewal run that worked on this certificate succeeded, else 0. */
  readonly lastRenewalSuccess?: 0 | 1;
  /** When this certificate was last re-issued and delivered by a renewal run, Unix seconds. */
  readonly lastRenewalTimestampSeconds?: number;
}

export interface CertsMetrics {
  readonly certificates: readonly CertificateMetrics[];
  /** When `phoenix certs renew` last ran (whatever its outcome), Unix seconds. */
  readonly lastRunTimestampSeconds?: number;
}

type PerCertificate = Exclude<keyof CertificateMetrics, 'name'>;

interface Family {
  readonly metric: string;
  readonly help: string;
  readonly field?: PerCertificate;
}

/** In output order. */
export const METRIC_FAMILIES: readonly Family[] = [
  {
    metric: 'phoenix_certificate_not_after_seconds',
    help: "Expiry (notAfter) of the certificate in Phoenix's store, in Unix seconds.",
    field: 'notAfterSeconds',
  },
  {
    metric: 'phoenix_certificate_renewal_due_seconds',
    help: 'When the certificate enters its renewal window, in Unix seconds.',
    field: 'renewalDueSeconds',
  },
  {
    metric: 'phoenix_certificate_last_renewal_success',
    help: 'Whether the last renewal run that worked on the certificate succeeded (issued if due, installed, reloaded, verified): 1 yes, 0 no.',
    field: 'lastRenewalSuccess',
  },
  {
    metric: 'phoenix_certificate_last_renewal_timestamp_seconds',
    help: 'When a renewal run last re-issued and delivered the certificate, in Unix seconds.',
    field: 'lastRenewalTimestampSeconds',
  },
  {
    metric: 'phoenix_certs_renew_last_run_timestamp_seconds',
    help: 'When phoenix certs renew last ran, whatever its outcome, in Unix seconds.',
  },
];

/** Label values: backslash, double quote and line feed are escaped, as the format requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function unescapeLabelValue(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** HELP text: backslash and line feed are escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Go's ParseFloat syntax, which Prometheus reads: NaN and ±Inf spelled its way. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function parseValue(text: string): number | undefined {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  const n = Number(text);
  return text.trim() !== '' && !Number.isNaN(n) ? n : undefined;
}

/** Milliseconds since the epoch → Unix seconds, to the millisecond. */
export function unixSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/**
 * The whole file: every family with HELP and TYPE (all gauges), samples ordered by certificate name so
 * that the output is stable, a trailing newline.
 */
export function renderMetrics(m: CertsMetrics): string {
  const certs = [...m.certificates].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines: string[] = [];
  for (const family of METRIC_FAMILIES) {
    lines.push(`# HELP ${family.metric} ${escapeHelp(family.help)}`, `# TYPE ${family.metric} gauge`);
    if (family.field === undefined) {
      if (m.lastRunTimestampSeconds !== undefined)
        lines.push(`${family.metric} ${formatValue(m.lastRunTimestampSeconds)}`);
      continue;
    }
    for (const c of certs) {
      const value = c[family.field];
      if (value === undefined) continue;
      lines.push(`${family.metric}{name="${escapeLabelValue(c.name)}"} ${formatValue(value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

function parseLabels(text: string): Map<string, string> | undefined {
  const labels = new Map<string, string>();
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) return text.slice(start).trim() === '' ? labels : undefined;
    labels.set(m[1]!, unescapeLabelValue(m[2]!));
  }
  return labels;
}

/**
 * Reads back a file this module wrote (to carry values over). Tolerant: comments, unknown metrics and
 * lines it cannot parse are skipped, so a damaged file loses only what is damaged.
 */
export function parseMetrics(text: string): CertsMetrics {
  const byName = new Map<string, Partial<Record<PerCertificate, number>>>();
  let lastRunTimestampSeconds: number | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const family = METRIC_FAMILIES.find((f) => f.metric === m[1]);
    const value = parseValue(m[3]!);
    if (!family || value === undefined) continue;
    if (family.field === undefined) {
      lastRunTimestampSeconds = value;
      continue;
    }
    const name = parseLabels(m[2] ?? '')?.get('name');
    if (name === undefined) continue;
    let entry = byName.get(name);
    if (!entry) byName.set(name, (entry = {}));
    entry[family.field] = value;
  }
  const certificates = [...byName].map(([name, v]): CertificateMetrics => {
    const success = v.lastRenewalSuccess;
    return {
      name,
      ...(v.notAfterSeconds !== undefined ? { notAfterSeconds: v.notAfterSeconds } : {}),
      ...(v.renewalDueSeconds !== undefined ? { renewalDueSeconds: v.renewalDueSeconds } : {}),
      ...(success === 0 || success === 1 ? { lastRenewalSuccess: success } : {}),
      ...(v.lastRenewalTimestampSeconds !== undefined
        ? { lastRenewalTimestampSeconds: v.lastRenewalTimestampSeconds }
        : {}),
    };
  });
  return {
    certificates,
    ...(lastRunTimestampSeconds !== undefined ? { lastRunTimestampSeconds } : {}),
  };
}

/**
 * `current` with the renewal outcome and time of certificates it has none for (this run did not work on
 * them) taken from `previous`. Expiry and due date are always current (they come from the store);
 * certificates only `previous` knows (no longer configured) are dropped.
 */
export function carryOver(previous: CertsMetrics | undefined, current: CertsMetrics): CertsMetrics {
  if (!previous) return current;
  const before = new Map(previous.certificates.map((c) => [c.name, c]));
  return {
    ...current,
    certificates: current.certificates.map((c) => {
      const old = before.get(c.name);
      if (!old) return c;
      const success = c.lastRenewalSuccess ?? old.lastRenewalSuccess;
      const when = c.lastRenewalTimestampSeconds ?? old.lastRenewalTimestampSeconds;
      return {
        ...c,
        ...(success !== undefined ? { lastRenewalSuccess: success } : {}),
        ...(when !== undefined ? { lastRenewalTimestampSeconds: when } : {}),
      };
    }),
  };
}
