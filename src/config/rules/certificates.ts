import type { Origin } from '../diagnostics.js';
import type { Certificate, FileSpec, GuestRef, Inventory } from '../../model/inventory.js';
import { at, certificateEntryOf, formatMode, refLabel, type RuleContext } from './context.js';

/** Certificate declarations that are valid but will not do what they are for. */
export function checkCertificates({ inv, raw, diags }: RuleContext): void {
  const guestIps = new Set([...inv.guests.values()].flatMap((g) => (g.ip ? [g.ip] : [])));
  for (const cert of inv.certificates) {
    const entry = certificateEntryOf(raw, cert);
    // Names come from sans, ip_sans or (for servers) common_name; point at whichever holds this one.
    const sanOrigin = (name: string): Origin => {
      const i = entry?.sans?.indexOf(name) ?? -1;
      if (i >= 0) return at(cert.origin, 'sans', i);
      const j = entry?.ip_sans?.indexOf(name) ?? -1;
      return j >= 0 ? at(cert.origin, 'ip_sans', j) : at(cert.origin, 'common_name');
    };

    for (const name of cert.dnsNames) {
      if (isLocal(name) || inDomain(name, inv.domain)) continue;
      diags.warning(
        sanOrigin(name),
        'cert.san-outside-domain',
        `certificate "${cert.name}" names "${name}", which is outside the domain ${inv.domain} (domain_name); the ` +
          'internal DNS does not serve it, so no client reaches the service by that name. Correct or remove it.',
      );
    }
    for (const ip of cert.ipAddresses) {
      if (ip.startsWith('127.') || ip === inv.hostAddress || guestIps.has(ip)) continue;
      diags.warning(
        sanOrigin(ip),
        'cert.ip-san-unknown',
        `certificate "${cert.name}" names IP address ${ip}, which is neither the host's address nor any guest's; ` +
          'a certificate for an address nothing uses is likely stale. Correct or remove it.',
      );
    }
    if (cert.usage === 'server' && cert.install.length === 0) {
      diags.warning(
        cert.origin,
        'cert.not-installed',
        `server certificate "${cert.name}" has no install target, so nothing will use it. Add an "install" entry ` +
          '({"guest":…,"key":{"path":…},"cert":{"path":…}}) or remove the certificate.',
      );
    }
    for (const target of cert.install)
      checkKeyMode(cert, target.key, entry?.permissions !== undefined, diags);
    checkFollowUpGuests(cert, inv, diags);
  }
}

/** Loopback names always mean "this machine" and are issued for local health checks, not for DNS. */
function isLocal(name: string): boolean {
  return name.toLowerCase() === 'localhost';
}

function inDomain(name: string, domain: string): boolean {
  const n = name.toLowerCase().replace(/^\*\./, '');
  const d = domain.toLowerCase();
  return n === d || n.endsWith('.' + d);
}

function checkKeyMode(
  cert: Certificate,
  key: FileSpec,
  legacyPermissions: boolean,
  diags: RuleContext['diags'],
): void {
  if ((key.mode & 0o007) === 0) return;
  // The legacy `permissions` field sets the mode of the key and the certificate alike; point at it.
  const legacy = key.origin.pointer.endsWith('/key_path');
  const origin = legacy
    ? legacyPermissions
      ? at(cert.origin, 'permissions')
      : key.origin
    : at(key.origin, 'mode');
  const where = `${key.location.guest}:${key.location.path}`;
  diags.warning(
    origin,
    'cert.key-readable-by-others',
    `the private key of certificate "${cert.name}" (${where}) gets mode ${formatMode(key.mode)}, which lets every ` +
      'user on that system use it. Use 0600, or 0640 with the group the service reads it as (root:www-data for nginx)' +
      (legacy ? '; "permissions" applies to the key and the certificate alike.' : '.'),
  );
}

/** Reloading a service in a guest the certificate never reaches reloads nothing that changed. */
function checkFollowUpGuests(cert: Certificate, inv: Inventory, diags: RuleContext['diags']): void {
  const installedIn = new Set<GuestRef>(
    cert.install.flatMap((t) => [t.key, t.cert, ...(t.chain ? [t.chain] : [])].map((f) => f.location.guest)),
  );
  for (const f of cert.followUps) {
    if (f.type !== 'reload-service' || installedIn.has(f.guest)) continue;
    if (f.guest !== 'host' && !inv.guests.has(f.guest)) continue; // an unknown guest is reported as a reference
    const fromHook = f.origin.pointer === cert.legacyHook?.origin.pointer;
    const elsewhere = installedIn.size
      ? `it installs into ${[...installedIn].map((g) => refLabel(g, inv)).join(' and ')}`
      : 'it installs no file at all';
    diags.warning(
      fromHook ? f.origin : at(f.origin, 'guest'),
      'cert.follow-up-elsewhere',
      `certificate "${cert.name}" reloads ${f.service} in ${refLabel(f.guest, inv)}, but installs no file there ` +
        `(${elsewhere}), so the reload cannot pick up the new certificate. Reload the service in the guest that ` +
        'uses the files, or install them where the service runs.',
    );
  }
}
