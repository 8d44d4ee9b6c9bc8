import { analyse } from '../../analyse.js';
import { resolveStateDir } from '../../engine/state-dir.js';
import type { Inventory } from '../../model/inventory.js';
import { formatDiagnostic } from '../diagnostics.js';
import { EXIT } from '../exit-codes.js';
import { sanitize } from '../render/text.js';
import { styleFor, type Style } from '../style.js';
import {
  certificateFacts,
  certificateStore,
  inspectCertificate,
  installLocations,
  iso,
  type CertInspection,
} from './certs-common.js';

export interface CertsListOptions {
  configDir: string;
  stateDir?: string;
  json?: boolean;
}

export type CertState = 'valid' | 'due' | 'expired' | 'not issued' | 'unreadable';

export interface CertListEntry {
  name: string;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  usage: 'server' | 'client';
  keyType: string;
  /** The configured issuer (a name of the manifest). */
  issuer: string;
  state: CertState;
  /** The issuer that signed the stored copy, and its distinguished name. */
  storedIssuer?: string;
  issuerDn?: string;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  daysLeft?: number;
  renewalDue?: string;
  /** Set when `certs renew` would renew it now: the renewal policy's reason. */
  renewalReason?: string;
  install: Array<{ guest: string; key: string; cert: string; chain?: string }>;
}

/** Loads and validates the configuration; on errors prints them and returns undefined. */
export async function loadInventory(configDir: string): Promise<Inventory | undefined> {
  const analysis = await analyse(configDir);
  if (analysis.inventory && analysis.graph && analysis.diagnostics.errorCount === 0)
    return analysis.inventory;
  const err = styleFor(process.stderr);
  for (const d of analysis.diagnostics.items)
    if (d.severity === 'error') process.stderr.write(formatDiagnostic(d, err) + '\n');
  process.stderr.write(
    `phoenix: the configuration has ${analysis.diagnostics.errorCount} error(s); run \`phoenix validate\`\n`,
  );
  return undefined;
}

export function listEntry(i: CertInspection): CertListEntry {
  const c = i.cert;
  const f = certificateFacts(i);
  const state: CertState = !i.observation.stored
    ? 'not issued'
    : !i.parsed
      ? 'unreadable'
      : f.daysLeft !== undefined && i.parsed.notAfter.getTime() <= i.at.getTime()
        ? 'expired'
        : f.dueReason
          ? 'due'
          : 'valid';
  return {
    name: c.name,
    commonName: c.commonName,
    dnsNames: [...c.dnsNames],
    ipAddresses: [...c.ipAddresses],
    usage: c.usage,
    keyType: c.keyType,
    issuer: c.issuer,
    state,
    ...(i.storedIssuer !== undefined ? { storedIssuer: i.storedIssuer } : {}),
    ...(i.parsed
      ? {
          issuerDn: i.parsed.issuerDn,
          serial: i.parsed.serial,
          notBefore: iso(i.parsed.notBefore),
          notAfter: iso(i.parsed.notAfter),
          daysLeft: f.daysLeft,
          renewalDue: iso(f.renewalDue),
        }
      : {}),
    ...(f.dueReason ? { renewalReason: f.dueReason } : {}),
    install: c.install.map((t) => ({
      guest: String(t.guest),
      key: t.key.location.path,
      cert: t.cert.location.path,
      ...(t.chain ? { chain: t.chain.location.path } : {}),
    })),
  };
}

/**
 * `phoenix certs list`: every certificate of the configuration next to Phoenix's stored copy. Reads the
 * store only: no drivers, no lock, nothing changes.
 */
export async function certsListCommand(o: CertsListOptions): Promise<number> {
  const inventory = await loadInventory(o.configDir);
  if (!inventory) return EXIT.invalid;
  const store = certificateStore(resolveStateDir(o.stateDir));
  const at = new Date();
  const entries: CertListEntry[] = [];
  for (const cert of inventory.certificates)
    entries.push(listEntry(await inspectCertificate(store, cert, at)));
  if (o.json) {
    process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
    return EXIT.ok;
  }
  if (entries.length === 0) {
    process.stdout.write('The configuration declares no certificates.\n');
    return EXIT.ok;
  }
  const style = styleFor(process.stdout);
  process.stdout.write(
    inventory.certificates.map((c, n) => formatEntry(entries[n]!, installLocations(c), style)).join('\n'),
  );
  return EXIT.ok;
}

function stateWord(e: CertListEntry, style: Style): string {
  switch (e.state) {
    case 'valid':
      return style.green('valid');
    case 'due':
      return style.yellow('due for renewal');
    case 'expired':
      return style.red('EXPIRED');
    case 'not issued':
      return style.yellow('not issued');
    case 'unreadable':
      return style.red('unreadable');
  }
}

function formatEntry(e: CertListEntry, installed: Array<{ role: string; at: string }>, style: Style): string {
  // Values from the configuration and the certificate are sanitised before any styling is added.
  const rows: Array<[string, string]> = [];
  const names = [...e.dnsNames, ...e.ipAddresses.map((ip) => `IP ${ip}`)].join(', ');
  rows.push(['names', sanitize(names) || '-']);
  rows.push(['usage', sanitize(`${e.usage}, ${e.keyType}`)]);
  const issuer =
    e.storedIssuer !== undefined && e.storedIssuer !== e.issuer
      ? `${e.issuer} (stored copy issued by ${e.storedIssuer})`
      : e.issuer;
  rows.push(['issuer', sanitize(e.issuerDn ? `${issuer} (${e.issuerDn})` : issuer)]);
  if (e.serial !== undefined) {
    rows.push(['serial', sanitize(e.serial)]);
    const left =
      e.daysLeft === undefined
        ? ''
        : e.daysLeft < 0
          ? style.red(`, expired ${-e.daysLeft} day(s) ago`)
          : `, ${e.daysLeft} day(s) left`;
    rows.push(['valid', `${e.notBefore} → ${e.notAfter}${left}`]);
    rows.push(['renew from', e.renewalDue ?? '-']);
  }
  if (e.renewalReason) rows.push(['due now', style.yellow(sanitize(e.renewalReason))]);
  rows.push(['installed', sanitize(installed.map((i) => `${i.role} ${i.at}`).join(', ')) || 'nowhere']);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return (
    `${style.bold(sanitize(e.name))}  ${stateWord(e, style)}\n` +
    rows.map(([k, v]) => `  ${k.padEnd(width)}${v}\n`).join('')
  );
}
