import { renewalDue, renewalReason, type CertObservation } from '../../certs/policy.js';
import { servedEndpoints, type ServedEndpoint } from '../../certs/served.js';
import { normaliseSerial } from '../../certs/x509.js';
import type { Session } from '../../engine/session.js';
import { EXIT } from '../exit-codes.js';
import { sanitize } from '../render/text.js';
import { styleFor } from '../style.js';
import type { Certificate } from '../../model/inventory.js';
import { observeCertificate } from '../../resources/cert.js';
import { DAY_MS, iso } from './certs-common.js';
import { engineSettings, type EngineCliOptions } from './engine-options.js';
import { withSession } from './run-engine.js';

/** How long one TLS endpoint may take to present its certificate. */
const PROBE_TIMEOUT_MS = 15_000;

export interface EndpointStatus {
  serverName: string;
  guest: string;
  port: number;
  /** True when the endpoint presents the stored certificate. */
  ok: boolean;
  /** The serial it presented, when it answered. */
  servedSerial?: string;
  error?: string;
}

export interface CertStatus {
  name: string;
  ok: boolean;
  /** One sentence per problem; empty when ok. */
  problems: string[];
  serial?: string;
  notAfter?: string;
  daysLeft?: number;
  renewalDue?: string;
  /** Where the configuration says it must be served (none for client certificates, or not via the gateway). */
  endpoints: EndpointStatus[];
}

/**
 * `phoenix certs status`: every certificate checked against its stored copy and against what the live
 * endpoints serve. Read-only (drivers behind the read-only guard, no lock, no journal entry).
 */
export async function certsStatusCommand(o: EngineCliOptions): Promise<number> {
  const settings = engineSettings(o);
  return withSession(settings, { command: 'phoenix certs status', args: [], mutating: false }, async (s) => {
    const statuses = await certStatuses(s);
    const bad = statuses.filter((c) => !c.ok).length;
    if (settings.json) {
      process.stdout.write(JSON.stringify({ ok: bad === 0, certificates: statuses }, null, 2) + '\n');
    } else {
      process.stdout.write(formatStatuses(statuses));
    }
    return bad === 0 ? EXIT.ok : EXIT.attention;
  });
}

export async function certStatuses(s: Session): Promise<CertStatus[]> {
  const endpoints = servedEndpoints(s.readCtx.inventory);
  return Promise.all(
    s.inventory.certificates.map((cert) =>
      statusOf(
        s,
        cert,
        endpoints.filter((e) => e.certificate === cert.name),
      ),
    ),
  );
}

async function statusOf(
  s: Session,
  cert: Certificate,
  endpoints: readonly ServedEndpoint[],
): Promise<CertStatus> {
  const problems: string[] = [];
  const base = { name: cert.name };
  let obs: CertObservation;
  try {
    // Observed exactly as sync observes it (through the read-only context), so both judge the same facts.
    obs = await observeCertificate(s.readCtx, cert.name);
  } catch (e) {
    problems.push(`the stored certificate cannot be read: ${e instanceof Error ? e.message : String(e)}`);
    return { ...base, ok: false, problems, endpoints: [] };
  }
  if (!obs.stored) {
    problems.push('not issued: Phoenix has no certificate for it yet');
    return { ...base, ok: false, problems, endpoints: [] };
  }
  if (!obs.facts) {
    problems.push(`the stored certificate cannot be read: ${obs.unreadable ?? 'unknown error'}`);
    return { ...base, ok: false, problems, endpoints: [] };
  }
  const at = Date.parse(obs.at);
  const stored = normaliseSerial(obs.facts.serial);
  if (obs.pairMatches === false) problems.push('the stored key does not match the stored certificate');
  const notAfter = new Date(obs.facts.notAfter);
  const due = renewalDue(cert, obs.facts);
  if (notAfter.getTime() <= at) {
    problems.push(`expired on ${iso(notAfter)}`);
  } else if (due.getTime() <= at) {
    problems.push(
      `past its renewal due date ${iso(due)} (expires ${iso(notAfter)}): the renewal has not happened`,
    );
  } else if (obs.ariRenewAfter !== undefined && Date.parse(obs.ariRenewAfter) <= at) {
    problems.push(`the CA's renewal information asked for a renewal since ${obs.ariRenewAfter}`);
  }
  // Differences from the configuration (names, usage, key, issuer, CA), judged as of the start of the
  // validity so that the time-based checks above are not repeated.
  const drift = renewalReason(cert, {
    ...obs,
    at: obs.facts.notBefore,
    pairMatches: true,
    ariRenewAfter: undefined,
  });
  if (drift) problems.push(`does not match the configuration: ${drift}`);
  const served = await Promise.all(endpoints.map((e) => probe(s, e, stored)));
  for (const e of served) {
    if (e.ok) continue;
    const where = `${e.serverName} at ${e.guest}:${e.port}`;
    problems.push(
      e.error !== undefined
        ? // Driver errors usually say where already.
          `not served: ${e.error.includes(e.serverName) ? e.error : `${where}: ${e.error}`}`
        : `not served: ${where} presents serial ${e.servedSerial ?? '?'}, the stored certificate is ${stored}`,
    );
  }
  return {
    ...base,
    ok: problems.length === 0,
    problems,
    serial: stored,
    notAfter: iso(notAfter),
    daysLeft: Math.floor((notAfter.getTime() - at) / DAY_MS),
    renewalDue: iso(due),
    endpoints: served,
  };
}

async function probe(s: Session, e: ServedEndpoint, stored: string): Promise<EndpointStatus> {
  const base = { serverName: e.serverName, guest: String(e.guest), port: e.port };
  try {
    const signal = AbortSignal.any([s.cancel.signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
    const served = await s.readCtx.drivers.tls.served({
      guest: e.guest,
      port: e.port,
      serverName: e.serverName,
      signal,
    });
    const servedSerial = normaliseSerial(served.serial);
    return { ...base, ok: servedSerial === stored, servedSerial };
  } catch (err) {
    return { ...base, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function formatStatuses(statuses: readonly CertStatus[]): string {
  const style = styleFor(process.stdout);
  if (statuses.length === 0) return 'The configuration declares no certificates.\n';
  const width = Math.max(...statuses.map((c) => sanitize(c.name).length)) + 2;
  let out = '';
  for (const c of statuses) {
    const word = c.ok ? style.green('ok'.padEnd(9)) : style.red('PROBLEM'.padEnd(9));
    const detail: string[] = [];
    if (c.serial !== undefined) detail.push(`serial ${c.serial}`);
    if (c.daysLeft !== undefined) detail.push(c.daysLeft < 0 ? 'expired' : `${c.daysLeft} day(s) left`);
    if (c.renewalDue !== undefined) detail.push(`renew from ${c.renewalDue}`);
    const good = c.endpoints.filter((e) => e.ok);
    if (c.endpoints.length === 0) {
      if (c.serial !== undefined) detail.push('no endpoint to check');
    } else {
      const places = [...new Set(c.endpoints.map((e) => `${e.guest}:${e.port}`))].join(', ');
      detail.push(`served for ${good.length}/${c.endpoints.length} name(s) at ${places}`);
    }
    const line = detail.length
      ? `${sanitize(c.name).padEnd(width)}${style.dim(sanitize(detail.join('; ')))}`
      : sanitize(c.name);
    out += `${word}${line}\n`;
    for (const p of c.problems) out += `${' '.repeat(9)}  ${style.red('-')} ${sanitize(p)}\n`;
  }
  const bad = statuses.filter((c) => !c.ok).length;
  out +=
    bad === 0
      ? style.green(`All ${statuses.length} certificate(s) are fine.\n`)
      : style.red(`${bad} of ${statuses.length} certificate(s) need attention.\n`);
  return out;
}
