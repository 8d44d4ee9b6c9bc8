import { posix } from 'node:path';
import { pointer, type Origin } from '../config/diagnostics.js';
import type { RawConfig } from '../config/load.js';
import { analyseHook } from '../config/legacy/hooks.js';
import { DNS_NAME_RE, IPV4_RE, durationSeconds } from '../config/schema/common.js';
import type { CertificateEntry, IssuerConfig } from '../config/schema/certificates.js';
import type { HypervisorConfig } from '../config/schema/hypervisor.js';
import type {
  Certificate,
  FileLocation,
  FileSpec,
  FollowUp,
  Guest,
  GuestId,
  GuestRef,
  InstallTarget,
  Issuer,
  KeyType,
  SecretUse,
} from './inventory.js';
import { secretUse } from './secrets.js';

export const DEFAULT_RENEW_WINDOW = 1 / 3;
export const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';
/** The issuer a legacy manifest implies: the step-ca described in the hypervisor file. */
export const IMPLICIT_ISSUER = 'step-ca';

interface Defaults {
  issuer?: string;
  keyType: KeyType;
  lifetime?: string;
  renewWindow: number;
}

export function buildCertificates(
  raw: RawConfig,
  h: HypervisorConfig,
  guests: ReadonlyMap<GuestId, Guest>,
  secrets: SecretUse[],
): { certificates: Certificate[]; issuers: Map<string, Issuer> } {
  const issuers = new Map<string, Issuer>();
  const loaded = raw.certificates;
  const caGuest = findCaGuest(h, guests);
  if (!loaded) return { certificates: [], issuers };
  const file = loaded.file;
  const manifest = loaded.data;
  const entries = Array.isArray(manifest) ? manifest : manifest.certificates;
  const entriesPointer = Array.isArray(manifest) ? '' : '/certificates';

  if (!Array.isArray(manifest) && manifest.issuers) {
    for (const [name, cfg] of Object.entries(manifest.issuers)) {
      const origin = { file, pointer: pointer('issuers', name) };
      issuers.set(name, issuerOf(name, cfg, origin, caGuest));
      if (cfg.type === 'step-ca-jwk')
        secrets.push(secretUse(cfg.password, { file, pointer: `${origin.pointer}/password` }));
      if (cfg.type === 'acme' && cfg.eab)
        secrets.push(secretUse(cfg.eab.hmac_key, { file, pointer: `${origin.pointer}/eab/hmac_key` }));
    }
  }
  if (issuers.size === 0) issuers.set(IMPLICIT_ISSUER, implicitIssuer(h, raw.hypervisor!.file, caGuest));

  const d = Array.isArray(manifest) ? undefined : manifest.defaults;
  const defaults: Defaults = {
    issuer: d?.issuer ?? (issuers.size === 1 ? [...issuers.keys()][0] : undefined),
    keyType: d?.key_type ?? DEFAULT_KEY_TYPE,
    lifetime: d?.lifetime,
    renewWindow: d?.renew_window ?? DEFAULT_RENEW_WINDOW,
  };
  const certificates = entries.map((e, i) =>
    buildCertificate(e, { file, pointer: `${entriesPointer}/${i}` }, defaults, guests),
  );
  return { certificates, issuers };
}

function findCaGuest(h: HypervisorConfig, guests: ReadonlyMap<GuestId, Guest>): GuestId | undefined {
  if (h.step_ca?.guest !== undefined) return Number(h.step_ca.guest);
  for (const g of guests.values()) if (g.features.includes('step_ca')) return g.id;
  return undefined;
}

function issuerOf(name: string, cfg: IssuerConfig, origin: Origin, caGuest: GuestId | undefined): Issuer {
  return { ...cfg, name, origin, guestId: cfg.guest !== undefined ? Number(cfg.guest) : caGuest };
}

function implicitIssuer(h: HypervisorConfig, file: string, caGuest: GuestId | undefined): Issuer {
  const ca = h.step_ca;
  const host = ca?.dns_name ?? `ca.${h.domain_name}`;
  return {
    type: 'step-ca-jwk',
    name: IMPLICIT_ISSUER,
    url: `https://${host}:${ca?.port ?? 9000}`,
    provisioner: ca?.provisioner_name ?? 'admin',
    password: ca?.provisioner_password ?? '',
    origin: { file, pointer: ca ? '/step_ca' : '' },
    guestId: caGuest,
  };
}

function buildCertificate(
  e: CertificateEntry,
  origin: Origin,
  defaults: Defaults,
  guests: ReadonlyMap<GuestId, Guest>,
): Certificate {
  const usage = e.usage ?? e.cert_type ?? 'server';
  const names = e.sans ?? [];
  const dnsNames = names.filter((n) => !IPV4_RE.test(n));
  const ipAddresses = [...names.filter((n) => IPV4_RE.test(n)), ...(e.ip_sans ?? [])];
  if (
    usage === 'server' &&
    e.common_name.includes('.') &&
    DNS_NAME_RE.test(e.common_name) &&
    !dnsNames.includes(e.common_name)
  ) {
    dnsNames.unshift(e.common_name);
  }
  const at = (...segs: Array<string | number>): Origin => ({
    file: origin.file,
    pointer: origin.pointer + pointer(...segs),
  });
  const install: InstallTarget[] = (e.install ?? []).map((t, i) => {
    const guest: GuestRef = t.guest === 'host' ? 'host' : Number(t.guest);
    const spec = (f: NonNullable<typeof t.chain>, role: 'key' | 'cert' | 'chain'): FileSpec => ({
      location: locate(guest, f.path, guests),
      owner: f.owner ?? 'root',
      group: f.group ?? 'root',
      mode: parseMode(f.mode, role),
      origin: at('install', i, role),
    });
    return {
      guest,
      key: spec(t.key, 'key'),
      cert: spec(t.cert, 'cert'),
      chain: t.chain ? spec(t.chain, 'chain') : undefined,
      origin: at('install', i),
    };
  });
  const legacyTarget = legacyInstall(e, origin, guests);
  if (legacyTarget) install.push(legacyTarget);

  const followUps: FollowUp[] = [];
  for (const [i, f] of (Array.isArray(e.follow_up)
    ? e.follow_up
    : e.follow_up
      ? [e.follow_up]
      : []
  ).entries()) {
    const o = at('follow_up', ...(Array.isArray(e.follow_up) ? [i] : []));
    if (f.type === 'reload-service')
      followUps.push({
        type: f.type,
        guest: f.guest === 'host' ? 'host' : Number(f.guest),
        service: f.service,
        origin: o,
      });
    if (f.type === 'restart-container')
      followUps.push({ type: f.type, guest: Number(f.guest), container: f.container, origin: o });
  }
  const legacyHook = e.post_renewal_command
    ? { command: e.post_renewal_command, origin: at('post_renewal_command') }
    : undefined;
  if (legacyHook) {
    const recognised = analyseHook(legacyHook.command).followUp;
    if (recognised?.type === 'reload-service') followUps.push({ ...recognised, origin: legacyHook.origin });
    if (recognised?.type === 'restart-container' && recognised.guest !== 'host') {
      followUps.push({
        type: 'restart-container',
        guest: recognised.guest,
        container: recognised.container,
        origin: legacyHook.origin,
      });
    }
  }

  return {
    name: e.name ?? e.common_name,
    origin,
    commonName: e.common_name,
    dnsNames,
    ipAddresses,
    usage,
    keyType: e.key_type ?? defaults.keyType,
    lifetimeSeconds:
      (e.lifetime ?? defaults.lifetime) ? durationSeconds((e.lifetime ?? defaults.lifetime)!) : undefined,
    renewWindow: e.renew_window ?? defaults.renewWindow,
    issuer: e.issuer ?? defaults.issuer ?? '',
    install,
    followUps,
    requires: (e.requires ?? []).map((id, i) => ({ id, origin: at('requires', i) })),
    legacyHook,
  };
}

function parseMode(mode: string | undefined, role: 'key' | 'cert' | 'chain'): number {
  if (mode !== undefined) return parseInt(mode, 8);
  return role === 'key' ? 0o600 : 0o644;
}

/** A guest path inside a bind mount is the same file as the host path behind it. */
export function locate(guest: GuestRef, path: string, guests: ReadonlyMap<GuestId, Guest>): FileLocation {
  if (guest === 'host') return { guest, path, hostPath: path };
  const g = guests.get(guest);
  if (g?.kind === 'lxc') {
    for (const m of g.mounts) {
      const rel = within(m.guestPath, path);
      if (rel !== undefined) return { guest, path, hostPath: posix.join(m.hostPath, rel) };
    }
  }
  return { guest, path };
}

/** The reverse: a host path behind some container's bind mount, seen from inside that container. */
export function guestViewOfHostPath(hostPath: string, guests: ReadonlyMap<GuestId, Guest>): FileLocation {
  for (const g of guests.values()) {
    if (g.kind !== 'lxc') continue;
    for (const m of g.mounts) {
      const rel = within(m.hostPath, hostPath);
      if (rel !== undefined) return { guest: g.id, path: posix.join(m.guestPath, rel), hostPath };
    }
  }
  return { guest: 'host', path: hostPath, hostPath };
}

function within(dir: string, path: string): string | undefined {
  const d = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  if (path === d) return '';
  return path.startsWith(d + '/') ? path.slice(d.length + 1) : undefined;
}

/**
 * The original wrote `cert_path`/`key_path` on the host and set `owner` there, which inside an unprivileged
 * container turned root into nobody. Phoenix reads `owner` as seen inside the container the path reaches.
 */
function legacyInstall(
  e: CertificateEntry,
  origin: Origin,
  guests: ReadonlyMap<GuestId, Guest>,
): InstallTarget | undefined {
  if (!e.cert_path || !e.key_path) return undefined;
  let cert = guestViewOfHostPath(e.cert_path, guests);
  let key = guestViewOfHostPath(e.key_path, guests);
  if (cert.guest !== key.guest) {
    cert = { guest: 'host', path: e.cert_path, hostPath: e.cert_path };
    key = { guest: 'host', path: e.key_path, hostPath: e.key_path };
  }
  const [owner, group] = (e.owner ?? 'root:root').split(':') as [string, string | undefined];
  const mode = e.permissions ? parseInt(e.permissions, 8) : undefined;
  const o = (field: string): Origin => ({ file: origin.file, pointer: `${origin.pointer}/${field}` });
  const spec = (location: FileLocation, role: 'key' | 'cert', field: string): FileSpec => ({
    location,
    owner,
    group: group ?? owner,
    mode: mode ?? (role === 'key' ? 0o600 : 0o644),
    origin: o(field),
  });
  const chain = e.include_ca
    ? spec(
        e.cert_path ? guestViewOfHostPath(posix.join(posix.dirname(e.cert_path), 'ca.pem'), guests) : cert,
        'cert',
        'include_ca',
      )
    : undefined;
  return {
    guest: cert.guest,
    key: spec(key, 'key', 'key_path'),
    cert: spec(cert, 'cert', 'cert_path'),
    chain,
    origin,
  };
}
