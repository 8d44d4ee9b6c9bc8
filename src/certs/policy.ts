import type { Certificate } from '../model/inventory.js';

/**
 * Whether a certificate must be (re)issued, as an ordered chain of pure checks in the manner of
 * cert-manager's trigger policies: the first check that fires gives the reason shown in `plan`.
 */

export interface CertFacts {
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly keyType: string;
  readonly usages: readonly ('server' | 'client')[];
}

export interface CertObservation {
  /** When it was observed (ISO); decisions about time use this, never the clock. */
  readonly at: string;
  readonly stored: boolean;
  /** Set when stored material could not be parsed. */
  readonly unreadable?: string;
  readonly pairMatches?: boolean;
  readonly issuer?: string;
  /** Whether it chains to the configured issuer's current root; undefined when that could not be checked. */
  readonly chainsToIssuer?: boolean;
  readonly facts?: CertFacts;
  /** ARI (RFC 9773) suggested renewal window start, when the CA offers one. */
  readonly ariRenewAfter?: string;
}

export type Check = (want: Certificate, seen: CertObservation) => string | undefined;

const DAY = 86_400_000;

const missing: Check = (_w, s) => (s.stored ? undefined : 'no certificate has been issued yet');
const unreadable: Check = (_w, s) =>
  s.unreadable ? `the stored certificate cannot be read: ${s.unreadable}` : undefined;
const pairMismatch: Check = (_w, s) =>
  s.pairMatches === false ? 'the stored key does not match the certificate' : undefined;

const specDiffers: Check = (w, s) => {
  const f = s.facts!;
  const names = diffSets(w.dnsNames, f.dnsNames);
  if (names) return `DNS names differ from the configuration (${names})`;
  const ips = diffSets(w.ipAddresses, f.ipAddresses);
  if (ips) return `IP addresses differ from the configuration (${ips})`;
  if (!f.usages.includes(w.usage)) return `usage is ${f.usages.join('+') || 'none'}, configured ${w.usage}`;
  if (f.keyType !== w.keyType) return `key is ${f.keyType}, configured ${w.keyType}`;
  return undefined;
};

const issuerChanged: Check = (w, s) => {
  if (s.issuer !== undefined && s.issuer !== w.issuer)
    return `issued by ${s.issuer}, configured issuer is ${w.issuer}`;
  if (s.chainsToIssuer === false)
    return `issued by another CA: it does not chain to ${w.issuer}'s current root`;
  return undefined;
};

const expiredOrDue: Check = (w, s) => {
  const f = s.facts!;
  const at = Date.parse(s.at);
  const notAfter = Date.parse(f.notAfter);
  const lifetime = notAfter - Date.parse(f.notBefore);
  if (notAfter <= at) return `expired ${days(at - notAfter)} ago`;
  const window = lifetime * w.renewWindow;
  const left = notAfter - at;
  if (left <= window)
    return `expires in ${days(left)} (renew window ${days(window)}, ${Math.round(w.renewWindow * 100)}% of its lifetime)`;
  return undefined;
};

const ariSaysRenew: Check = (_w, s) =>
  s.ariRenewAfter !== undefined && Date.parse(s.ariRenewAfter) <= Date.parse(s.at)
    ? `the CA's renewal information suggests renewing since ${s.ariRenewAfter}`
    : undefined;

/** The order matters: each check may assume the ones before it passed. */
export const RENEWAL_CHECKS: readonly Check[] = [
  missing,
  unreadable,
  pairMismatch,
  specDiffers,
  issuerChanged,
  expiredOrDue,
  ariSaysRenew,
];

const expired: Check = (_w, s) => {
  const left = Date.parse(s.facts!.notAfter) - Date.parse(s.at);
  return left <= 0 ? `expired ${days(-left)} ago` : undefined;
};

/** What makes a certificate unusable (not merely due): what verification after issuing checks. */
export const VALIDITY_CHECKS: readonly Check[] = [
  missing,
  unreadable,
  pairMismatch,
  specDiffers,
  issuerChanged,
  expired,
];

export function invalidReason(want: Certificate, seen: CertObservation): string | undefined {
  for (const check of VALIDITY_CHECKS) {
    const reason = check(want, seen);
    if (reason) return reason;
  }
  return undefined;
}

export function renewalReason(want: Certificate, seen: CertObservation, force = false): string | undefined {
  for (const check of RENEWAL_CHECKS) {
    const reason = check(want, seen);
    if (reason) return reason;
  }
  return force ? 'renewal forced (--force)' : undefined;
}

/** When the certificate becomes due, for `certs list`. */
export function renewalDue(want: Certificate, facts: CertFacts): Date {
  const nb = Date.parse(facts.notBefore);
  const na = Date.parse(facts.notAfter);
  return new Date(na - (na - nb) * want.renewWindow);
}

function diffSets(want: readonly string[], have: readonly string[]): string | undefined {
  const w = new Set(want.map((x) => x.toLowerCase()));
  const h = new Set(have.map((x) => x.toLowerCase()));
  const add = [...w].filter((x) => !h.has(x));
  const drop = [...h].filter((x) => !w.has(x));
  if (!add.length && !drop.length) return undefined;
  return [...add.map((x) => `+${x}`), ...drop.map((x) => `-${x}`)].join(' ');
}

function days(ms: number): string {
  if (ms < 3_600_000) return `${Math.max(1, Math.round(ms / 60_000))} min`;
  if (ms < DAY) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / DAY)} days`;
}
