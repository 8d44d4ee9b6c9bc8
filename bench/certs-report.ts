/**
 * Pure parts of the certificate issuance benchmark (bench/certs.ts): bench names, the Phoenix config it
 * syncs, the dnsmasq and nginx configs it starts, statistics, ratios and the report table. Nothing here
 * touches the network, a process or the clock, so test/bench/certs.test.ts checks all of it.
 */

export const BENCH_DOMAIN = 'bench.test';
/** The gateway's own certificate (part 2: renewal decision → new serial served). */
export const GATEWAY_NAME = `gw.${BENCH_DOMAIN}`;
export const CA_GUEST = 103;
/** The gateway guest (nginx) the certificates are installed into. */
export const WEB_GUEST = 101;
export const TRAEFIK_GUEST = 102;

/** b01.bench.test … b50.bench.test (zero-padded to the width of `count`, at least 2 digits). */
export function benchNames(count: number, domain = BENCH_DOMAIN): string[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`bench certificate count ${count} is not ≥ 1`);
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `b${String(i + 1).padStart(width, '0')}.${domain}`);
}

// ---------------------------------------------------------------------------------------------------------
// Statistics

export interface Stats {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  /** Nearest-rank 90th percentile. */
  readonly p90: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile (p in (0, 100]) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of an empty list');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile ${p} is not in (0, 100]`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

export function stats(values: readonly number[]): Stats {
  if (values.length === 0) throw new Error('stats of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return {
    n: sorted.length,
    min: sorted[0]!,
    median: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
    p90: percentile(sorted, 90),
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Issuance results, ratios, the table

export type Tool = 'phoenix' | 'lego' | 'certbot';

/** One batch: `certificates` requested, `issued` of them obtained, in `totalMs` wall time. */
export interface BatchResult {
  readonly tool: Tool;
  /** "sequential", "parallel 8", "engine 16/4 (JWK)", … */
  readonly mode: string;
  readonly certificates: number;
  readonly issued: number;
  readonly totalMs: number;
  /** Counted for the tool's time (the faster complete batch of a tool); extra rows are informative. */
  readonly counts: boolean;
  /** Phoenix: peak RSS of its process. */
  readonly maxRssMb?: number;
  readonly note?: string;
}

export interface ReportRow extends BatchResult {
  readonly perCertMs: number;
  /** totalMs / Phoenix's totalMs: how many times Phoenix's time this batch took (> 1: Phoenix is faster). */
  readonly ratio: number;
}

/** A batch that did not obtain every certificate does not count as a time for its tool. */
export const complete = (b: BatchResult): boolean => b.issued === b.certificates;

/** The batch that stands for a tool: the fastest complete counted one. */
export function toolTime(batches: readonly BatchResult[], tool: Tool): BatchResult | undefined {
  return batches
    .filter((b) => b.tool === tool && b.counts && complete(b))
    .sort((a, b) => a.totalMs - b.totalMs)[0];
}

export function reportRows(batches: readonly BatchResult[], phoenixMs: number): ReportRow[] {
  return batches.map((b) => ({
    ...b,
    perCertMs: b.totalMs / Math.max(1, b.certificates),
    ratio: phoenixMs > 0 ? b.totalMs / phoenixMs : NaN,
  }));
}

export interface IssuanceGoal {
  readonly ok: boolean;
  readonly phoenixMs: number;
  /** The fastest other tool, with its time. */
  readonly fastest?: { readonly tool: Tool; readonly mode: string; readonly totalMs: number };
  /** fastest / Phoenix: ≥ 1 means Phoenix is at least as fast. */
  readonly speedup?: number;
  readonly text: string;
}

/** Goal: Phoenix at least as fast as the fastest of the other tools (each at its faster mode). */
export function issuanceGoal(batches: readonly BatchResult[]): IssuanceGoal {
  const phoenix = toolTime(batches, 'phoenix');
  const others = (['lego', 'certbot'] as const)
    .map((t) => toolTime(batches, t))
    .filter((b): b is BatchResult => b !== undefined)
    .sort((a, b) => a.totalMs - b.totalMs);
  const fastest = others[0];
  if (!phoenix) {
    return { ok: false, phoenixMs: NaN, text: 'Phoenix did not issue every certificate' };
  }
  if (!fastest) {
    return {
      ok: false,
      phoenixMs: phoenix.totalMs,
      text: 'no other tool issued every certificate: nothing to compare with',
    };
  }
  const speedup = fastest.totalMs / phoenix.totalMs;
  return {
    ok: phoenix.totalMs <= fastest.totalMs,
    phoenixMs: phoenix.totalMs,
    fastest: { tool: fastest.tool, mode: fastest.mode, totalMs: fastest.totalMs },
    speedup,
    text:
      `Phoenix ${seconds(phoenix.totalMs)} s vs fastest other ${fastest.tool} (${fastest.mode}) ${seconds(fastest.totalMs)} s: ` +
      `Phoenix ${speedup >= 1 ? `${fixed(speedup)}× faster` : `${fixed(1 / speedup)}× slower`}`,
  };
}

export const seconds = (ms: number): string => (ms / 1000).toFixed(2);
const fixed = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** The issuance table: tool, mode, certificates, total seconds, per-certificate ms, ratio vs Phoenix. */
export function issuanceTable(rows: readonly ReportRow[]): string {
  return table(
    ['tool', 'mode', 'certificates', 'total s', 'per-cert ms', 'ratio vs Phoenix', 'peak RSS MB'],
    rows.map((r) => [
      r.tool,
      r.mode + (r.counts ? '' : ' (extra)'),
      r.issued === r.certificates ? String(r.certificates) : `${r.issued}/${r.certificates} FAILED`,
      seconds(r.totalMs),
      r.perCertMs.toFixed(0),
      Number.isFinite(r.ratio) ? `${fixed(r.ratio)}×` : '–',
      r.maxRssMb === undefined ? '' : r.maxRssMb.toFixed(0),
    ]),
  );
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    '| ' +
    widths.map((w, i) => (i < 2 ? (cells[i] ?? '').padEnd(w) : (cells[i] ?? '').padStart(w))).join(' | ') +
    ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join(
    '\n',
  );
}

// ---------------------------------------------------------------------------------------------------------
// Renewal → served (part 2)

export const RENEWAL_PHASES = ['decide', 'issue', 'install', 'test', 'reload', 'served'] as const;
export type RenewalPhase = (typeof RENEWAL_PHASES)[number];

export interface RenewalRun {
  /** Milliseconds spent in each phase. */
  readonly phases: Readonly<Record<RenewalPhase, number>>;
  /** Decision → the endpoint served the new serial. */
  readonly totalMs: number;
  /** TLS handshakes until the new serial was seen (1: the first one after the reload already had it). */
  readonly polls: number;
  readonly oldSerial: string;
  readonly newSerial: string;
}

export function renewalTable(runs: readonly RenewalRun[]): string {
  const rows = [...RENEWAL_PHASES, 'total' as const].map((phase) => {
    const values = runs.map((r) => (phase === 'total' ? r.totalMs : r.phases[phase]));
    const s = stats(values);
    return [phase, RENEWAL_LABELS[phase], s.median.toFixed(1), s.p90.toFixed(1), s.max.toFixed(1)];
  });
  return table(['phase', 'what', 'median ms', 'p90 ms', 'max ms'], rows);
}

const RENEWAL_LABELS: Record<RenewalPhase | 'total', string> = {
  decide: 'read stored cert, renewal policy says due',
  issue: 'key + CSR + step-ca JWK sign + store',
  install: 'key 0640 root:www-data, cert 0644 (temp + rename)',
  test: 'nginx -t',
  reload: 'nginx -s reload',
  served: 'poll TLS until the new serial is served',
  total: 'decision → new serial served',
};

// ---------------------------------------------------------------------------------------------------------
// Generated configuration

export interface BenchConfigOptions {
  readonly names: readonly string[];
  /** https://<loopback>:<port> of the real step-ca. */
  readonly caUrl: string;
  readonly provisioner: string;
  /** Absolute path of the provisioner password file (referenced as `file:`). */
  readonly passwordFile: string;
  readonly rootFingerprint: string;
  /** When set, also declares an `acme` issuer (`bench-acme`) on this directory URL. */
  readonly acmeDirectory?: string;
  /** Which issuer signs the bench certificates (the gateway's stays on the JWK one). Default `bench`. */
  readonly certIssuer?: 'bench' | 'bench-acme';
}

const LXC_BASE = {
  memory_mb: 512,
  cores: 1,
  storage_pool: 'local-lvm',
  storage_size_gb: 4,
};

/**
 * A Phoenix config directory's files: a step-ca guest, an nginx gateway guest and a Traefik guest, a JWK issuer
 * on the bench's CA, one server certificate per bench name (ECDSA P-256, 720 h) installed into the gateway, and
 * the gateway certificate of part 2, due as soon as it is issued (5 min lifetime, renew window 0.9: step-ca
 * backdates notBefore by a minute, so a fresh one has 5/6 of its lifetime left, inside the window).
 */
export function benchConfigFiles(o: BenchConfigOptions): Record<string, string> {
  if (o.certIssuer === 'bench-acme' && !o.acmeDirectory) {
    throw new Error('certificates on the ACME issuer need its directory URL (acmeDirectory)');
  }
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  const pair = (base: string) => ({
    key: { path: `/etc/nginx/ssl/${base}.key`, owner: 'root', group: 'www-data', mode: '0640' },
    cert: { path: `/etc/nginx/ssl/${base}.crt`, owner: 'root', group: 'root', mode: '0644' },
  });
  const reload = { type: 'reload-service', guest: WEB_GUEST, service: 'nginx' };
  const issuers: Record<string, unknown> = {
    bench: {
      type: 'step-ca-jwk',
      url: o.caUrl,
      provisioner: o.provisioner,
      password: `file:${o.passwordFile}`,
      root_fingerprint: o.rootFingerprint,
      guest: CA_GUEST,
    },
  };
  if (o.acmeDirectory) {
    issuers['bench-acme'] = {
      type: 'acme',
      directory: o.acmeDirectory,
      email: `bench@${BENCH_DOMAIN}`,
      root_fingerprint: o.rootFingerprint,
      challenge: 'http-01',
      guest: CA_GUEST,
    };
  }
  return {
    'phoenix_hypervisor_config.json': json({
      domain_name: BENCH_DOMAIN,
      target: 'lab',
      network: { interfaces: { name: 'vmbr0', address: '10.0.0.13/24', gateway: '10.0.0.1' } },
      step_ca: { guest: CA_GUEST, provisioner_name: o.provisioner },
    }),
    'phoenix_lxc_configs.json': json({
      lxc_configs: {
        [String(CA_GUEST)]: {
          name: 'step-ca',
          ...LXC_BASE,
          network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.10/24', gw: '10.0.0.1' },
          features: ['step_ca'],
        },
        // The gateway (nginx): ACME issuers need it for http-01, and it routes the names it holds
        // certificates for to the Traefik mesh, hence a Traefik guest.
        [String(WEB_GUEST)]: {
          name: 'gateway',
          ...LXC_BASE,
          network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.153/24', gw: '10.0.0.1' },
          features: ['nginx'],
          dependencies: [String(CA_GUEST)],
          id_maps: [{ type: 'gid', host_id: 33, container_id: 33, size: 1 }],
        },
        [String(TRAEFIK_GUEST)]: {
          name: 'traefik',
          ...LXC_BASE,
          network_config: { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.12/24', gw: '10.0.0.1' },
          features: ['traefik'],
          dependencies: [String(CA_GUEST)],
        },
      },
    }),
    'certificate-manifest.json': json({
      issuers,
      defaults: { issuer: 'bench', key_type: 'ecdsa-p256', lifetime: '720h', renew_window: 0.33 },
      certificates: [
        ...o.names.map((name) => ({
          common_name: name,
          ...(o.certIssuer === 'bench-acme' ? { issuer: 'bench-acme' } : {}),
          sans: [name],
          usage: 'server',
          install: [{ guest: WEB_GUEST, ...pair(name) }],
          follow_up: reload,
        })),
        {
          common_name: GATEWAY_NAME,
          issuer: 'bench',
          sans: [GATEWAY_NAME],
          usage: 'server',
          lifetime: '5m',
          renew_window: 0.9,
          install: [{ guest: WEB_GUEST, ...pair(GATEWAY_NAME) }],
          follow_up: reload,
        },
      ],
    }),
  };
}

/** dnsmasq that answers only for the bench domain, with no upstream and no /etc/hosts. */
export function dnsmasqConf(o: { address: string; port: number; domain: string; answer: string }): string {
  return [
    '# phoenix bench: answers the bench domain only; never forwards',
    `port=${o.port}`,
    `listen-address=${o.address}`,
    'bind-interfaces',
    'no-resolv',
    'no-hosts',
    'no-poll',
    // Without local=, AAAA queries for the domain are REFUSED instead of answered empty.
    `local=/${o.domain}/`,
    `address=/${o.domain}/${o.answer}`,
    'pid-file=',
    'log-facility=-',
    '',
  ].join('\n');
}

export interface NginxConfOptions {
  /** The prefix directory (pid, logs, temp paths). */
  readonly prefix: string;
  readonly address: string;
  /** Served at http://<address>:80/.well-known/acme-challenge/. */
  readonly webroot: string;
  readonly serverName: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly user?: string;
}

/**
 * The lab's gateway shape (lab-facts §2d/§5): root master, www-data worker, own pid/log/temp paths, http-01
 * webroot on :80, one TLS server on :443 with literal certificate paths (read by the master on reload).
 */
export function nginxConf(o: NginxConfOptions): string {
  const p = (rel: string) => `${o.prefix}/${rel}`;
  return `# phoenix bench: the gateway
user ${o.user ?? 'www-data'};
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${p('tmp/body')};
  proxy_temp_path ${p('tmp/proxy')};
  fastcgi_temp_path ${p('tmp/fastcgi')};
  uwsgi_temp_path ${p('tmp/uwsgi')};
  scgi_temp_path ${p('tmp/scgi')};
  default_type text/plain;
  server {
    listen ${o.address}:80;
    location /.well-known/acme-challenge/ { root ${o.webroot}; }
    location / { return 404; }
  }
  server {
    listen ${o.address}:443 ssl;
    server_name ${o.serverName};
    ssl_certificate ${o.certPath};
    ssl_certificate_key ${o.keyPath};
    location / { return 200 "gateway ok\\n"; }
  }
}
`;
}
