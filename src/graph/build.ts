import type { Diagnostics, Origin } from '../config/diagnostics.js';
import type {
  Certificate,
  FileLocation,
  FileSpec,
  Guest,
  GuestId,
  GuestRef,
  Inventory,
} from '../model/inventory.js';
import { meshGuest } from '../generate/topology.js';
import { addDockerSide } from './docker.js';
import { MANAGED_PATHS } from './paths.js';
import type { OwnedPath, ResourceGraph, ResourceKind, ResourceNode, ResourceSpec } from './types.js';

/** Stable ids, one function each, so every stage spells them the same way. */
export const ids = {
  guest: (id: GuestId) => `guest/${id}`,
  issuer: (name: string) => `issuer/${name}`,
  cert: (name: string) => `cert/${name}`,
  file: (guest: GuestRef, path: string) => `file/${guest}:${path}`,
  reload: (guest: GuestRef, service: string) => `reload/${guest}:${service}`,
  restart: (guest: GuestId, container: string) => `restart/${guest}:${container}`,
  volume: (guest: GuestId, name: string) => `volume/${guest}:${name}`,
  stack: (guest: GuestId, name: string) => `stack/${guest}:${name}`,
  dns: () => 'dns/host',
  firewall: (guest: GuestRef) => (guest === 'host' ? 'firewall/cluster' : `firewall/${guest}`),
  gateway: (guest: GuestId) => `gateway/${guest}`,
  gatewayHttp: (guest: GuestId) => `gateway-http/${guest}`,
  mesh: (guest: GuestId) => `mesh/${guest}`,
  trust: (guest: GuestRef) => `trust/${guest}`,
  reach: (gateway: GuestId) => `reach/${gateway}`,
  portainer: (server: GuestId) => `portainer/${server}`,
  portainerAdmin: (server: GuestId) => `portainer-admin/${server}`,
  portainerAgent: (guest: GuestId) => `portainer-agent/${guest}`,
  portainerEnv: (name: string) => `portainer-env/${name}`,
};

export function ownedPath(location: FileLocation): OwnedPath {
  return {
    guest: location.guest,
    path: location.path,
    key: location.hostPath !== undefined ? `host:${location.hostPath}` : `${location.guest}:${location.path}`,
  };
}

export interface Draft {
  id: string;
  kind: ResourceKind;
  label: string;
  requires: Set<string>;
  triggers: Set<string>;
  owns: OwnedPath[];
  origin?: Origin;
  spec: ResourceSpec;
}

/**
 * Inventory → resource graph. Derived edges: a guest requires its clone source and dependencies; a stack
 * its guest and external volumes; a restart the stack that creates the container; a follow-up every file
 * of its certificate. What cannot be resolved here is reported, never guessed.
 */
export function buildGraph(inv: Inventory, diags: Diagnostics): ResourceGraph {
  const nodes = new Map<string, Draft>();
  const add = (
    d: Omit<Draft, 'requires' | 'triggers' | 'owns'> & Partial<Pick<Draft, 'owns'>>,
    requires: Iterable<string> = [],
  ): Draft => {
    const existing = nodes.get(d.id);
    if (existing) return existing;
    const draft: Draft = { ...d, requires: new Set(requires), triggers: new Set(), owns: d.owns ?? [] };
    nodes.set(d.id, draft);
    return draft;
  };
  const guestReq = (g: GuestRef): string[] => (g === 'host' ? [] : [ids.guest(g)]);

  for (const g of inv.guests.values()) addGuest(g, add);

  for (const issuer of inv.issuers.values()) {
    add(
      {
        id: ids.issuer(issuer.name),
        kind: 'issuer',
        label: `issuer ${issuer.name} (${issuer.type})`,
        origin: issuer.origin,
        spec: { kind: 'issuer', issuer },
      },
      issuer.guestId !== undefined ? [ids.guest(issuer.guestId)] : [],
    );
  }

  const containersByGuest = containerCreators(inv);
  for (const cert of inv.certificates)
    addCertificate(cert, inv, add, nodes, containersByGuest, diags, guestReq);

  const filesByGuest = indexFilesByGuest(nodes);
  addDockerSide(inv, add, nodes, filesByGuest);
  addNetworkServices(inv, add, guestReq, filesByGuest);

  requireHttp01Path(inv, nodes, diags);

  addReach(inv, nodes, add);

  // A reload of the gateway's nginx proves the new certificates are served: their TLS servers must be configured.
  for (const d of nodes.values()) {
    if (d.spec.kind === 'reload' && d.spec.service === 'nginx' && d.spec.guest !== 'host') {
      const gateway = ids.gateway(d.spec.guest);
      if (nodes.has(gateway)) d.requires.add(gateway);
    }
  }

  const frozen = new Map<string, ResourceNode>();
  for (const d of nodes.values()) {
    frozen.set(d.id, { ...d, requires: [...d.requires], triggers: [...d.triggers], owns: d.owns });
  }
  return { nodes: frozen };
}

export type Add = (
  d: Omit<Draft, 'requires' | 'triggers' | 'owns'> & Partial<Pick<Draft, 'owns'>>,
  requires?: Iterable<string>,
) => Draft;

function addGuest(g: Guest, add: Add): void {
  const requires = [...(g.cloneFrom !== undefined ? [g.cloneFrom] : []), ...g.dependencies].map(ids.guest);
  add(
    {
      id: ids.guest(g.id),
      kind: 'guest',
      label: `${g.kind.toUpperCase()} ${g.id} ${g.name}`,
      origin: g.origin,
      spec: { kind: 'guest', guest: g },
    },
    requires,
  );
}

/** Which stack creates which container, per guest: a restart must wait for it. */
function containerCreators(inv: Inventory): Map<GuestId, Map<string, string>> {
  const out = new Map<GuestId, Map<string, string>>();
  for (const g of inv.guests.values()) {
    if (g.kind !== 'vm') continue;
    const m = new Map<string, string>();
    for (const dep of g.stacks) {
      const stack = inv.stacks.get(dep.stack);
      for (const svc of stack?.compose.services ?? []) {
        m.set(svc.containerName ?? `${dep.stack}-${svc.name}-1`, dep.stack);
      }
    }
    out.set(g.id, m);
  }
  return out;
}

function addCertificate(
  cert: Certificate,
  inv: Inventory,
  add: Add,
  nodes: Map<string, Draft>,
  containersByGuest: Map<GuestId, Map<string, string>>,
  diags: Diagnostics,
  guestReq: (g: GuestRef) => string[],
): void {
  const certId = ids.cert(cert.name);
  if (nodes.has(certId)) {
    diags.error(
      cert.origin,
      'cert.duplicate',
      `certificate "${cert.name}" is declared twice (also at ${nodes.get(certId)!.origin?.pointer})`,
    );
    return;
  }
  const issuerRequires = inv.issuers.has(cert.issuer) ? [ids.issuer(cert.issuer)] : [];
  if (!inv.issuers.has(cert.issuer)) {
    diags.error(
      cert.origin,
      'ref.unknown-issuer',
      cert.issuer
        ? `issuer "${cert.issuer}" is not declared (declared: ${[...inv.issuers.keys()].join(', ') || 'none'})`
        : `certificate has no issuer and the manifest declares several; set "issuer" or defaults.issuer`,
    );
  }
  add(
    {
      id: certId,
      kind: 'cert',
      label: `certificate ${cert.name}`,
      origin: cert.origin,
      spec: { kind: 'cert', certificate: cert },
    },
    [...issuerRequires, ...cert.requires.map((r) => r.id)],
  );

  const fileIds: string[] = [];
  for (const target of cert.install) {
    // A target's files are installed together by its first file (install.ts); the others follow it.
    let first: string | undefined;
    for (const role of ['key', 'cert', 'chain'] as const) {
      const file: FileSpec | undefined = target[role];
      if (!file) continue;
      const id = ids.file(file.location.guest, file.location.path);
      const prior = nodes.get(id);
      if (prior) {
        const priorCert = prior.spec.kind === 'file' ? `certificate "${prior.spec.certificate}"` : prior.id;
        diags.error(
          file.origin,
          'owner.duplicate',
          `${file.location.guest}:${file.location.path} is also written by ${priorCert}; a file has exactly one writer`,
        );
        continue;
      }
      add(
        {
          id,
          kind: 'file',
          label: `${role} of ${cert.name} → ${file.location.guest}:${file.location.path}`,
          origin: file.origin,
          owns: [ownedPath(file.location)],
          spec: { kind: 'file', certificate: cert.name, role, file },
        },
        [certId, ...guestReq(file.location.guest), ...(first ? [first] : [])],
      );
      first ??= id;
      fileIds.push(id);
    }
  }

  for (const f of cert.followUps) {
    if (f.type === 'reload-service') {
      const node = add(
        {
          id: ids.reload(f.guest, f.service),
          kind: 'reload',
          label: `reload ${f.service} in ${f.guest}`,
          origin: f.origin,
          spec: { kind: 'reload', guest: f.guest, service: f.service },
        },
        guestReq(f.guest),
      );
      for (const id of fileIds) {
        node.requires.add(id);
        node.triggers.add(id);
      }
    } else {
      const stack = containersByGuest.get(f.guest)?.get(f.container);
      if (!stack) {
        diags.error(
          f.origin,
          'graph.unprovided',
          `restart of container "${f.container}" on guest ${f.guest}: no stack deployed to guest ${f.guest} creates a container with that name`,
        );
      }
      const node = add(
        {
          id: ids.restart(f.guest, f.container),
          kind: 'restart',
          label: `restart container ${f.container} on ${f.guest}`,
          origin: f.origin,
          spec: { kind: 'restart', guest: f.guest, container: f.container, stack },
        },
        [ids.guest(f.guest), ...(stack ? [ids.stack(f.guest, stack)] : [])],
      );
      for (const id of fileIds) {
        node.requires.add(id);
        node.triggers.add(id);
      }
    }
  }
}

function indexFilesByGuest(nodes: ReadonlyMap<string, Draft>): Map<GuestRef, Draft[]> {
  const out = new Map<GuestRef, Draft[]>();
  for (const node of nodes.values()) {
    if (node.spec.kind !== 'file') continue;
    const g = node.spec.file.location.guest;
    (out.get(g) ?? out.set(g, []).get(g)!).push(node);
  }
  return out;
}

function addNetworkServices(
  inv: Inventory,
  add: Add,
  guestReq: (g: GuestRef) => string[],
  filesByGuest: ReadonlyMap<GuestRef, Draft[]>,
): void {
  const host = (path: string): OwnedPath => ({ guest: 'host', path, key: `host:${path}` });
  const inGuest = (g: GuestId, path: string): OwnedPath => ({ guest: g, path, key: `${g}:${path}` });
  const active = [...inv.guests.values()].filter((g) => !g.isTemplate);

  if (inv.dns.enabled) {
    add({
      id: ids.dns(),
      kind: 'dns',
      label: 'dnsmasq records on the host',
      owns: [host(MANAGED_PATHS.dnsmasq)],
      spec: { kind: 'dns' },
    });
  }
  if (inv.clusterFirewall.enabled) {
    add({
      id: ids.firewall('host'),
      kind: 'firewall',
      label: 'cluster firewall',
      owns: [host(MANAGED_PATHS.clusterFirewall)],
      spec: { kind: 'firewall', guest: 'host' },
    });
  }
  for (const g of active) {
    if (g.firewall.enabled) {
      add(
        {
          id: ids.firewall(g.id),
          kind: 'firewall',
          label: `firewall of ${g.id}`,
          origin: g.origin,
          owns: [host(MANAGED_PATHS.guestFirewall(g.id))],
          spec: { kind: 'firewall', guest: g.id },
        },
        guestReq(g.id),
      );
    }
  }

  // Only roots that sign something in use: an unused issuer must not hold back every trust store.
  const issuerIds = [...new Set(inv.certificates.map((c) => c.issuer))]
    .filter((n) => inv.issuers.has(n))
    .map(ids.issuer);
  // No certificate, no CA to trust: trust stores are only managed once some issuer signs something.
  if (issuerIds.length) {
    add(
      {
        id: ids.trust('host'),
        kind: 'trust',
        label: 'CA root in the host trust store',
        owns: [host(MANAGED_PATHS.trustAnchor)],
        spec: { kind: 'trust', guest: 'host' },
      },
      issuerIds,
    );
    for (const g of active) {
      add(
        {
          id: ids.trust(g.id),
          kind: 'trust',
          label: `CA root in ${g.id}'s trust store`,
          origin: g.origin,
          owns: [inGuest(g.id, MANAGED_PATHS.trustAnchor)],
          spec: { kind: 'trust', guest: g.id },
        },
        [ids.guest(g.id), ...issuerIds],
      );
    }
  }

  for (const g of active) {
    if (isGateway(g)) {
      // Port 80 needs no certificate: it comes first, so ACME http-01 can be answered before any exists.
      add(
        {
          id: ids.gatewayHttp(g.id),
          kind: 'gateway',
          label: `nginx gateway in ${g.id}: port 80 (ACME http-01, redirect)`,
          origin: g.origin,
          owns: [inGuest(g.id, MANAGED_PATHS.nginxHttp)],
          spec: { kind: 'gateway', guest: g.id, part: 'http' },
        },
        [ids.guest(g.id)],
      );
      // Its TLS servers name the certificate files installed in the gateway: they must exist first.
      const certFiles = (filesByGuest.get(g.id) ?? []).map((n) => n.id);
      add(
        {
          id: ids.gateway(g.id),
          kind: 'gateway',
          label: `nginx gateway in ${g.id}: TLS servers`,
          origin: g.origin,
          owns: [inGuest(g.id, MANAGED_PATHS.nginxSite)],
          spec: { kind: 'gateway', guest: g.id, part: 'tls' },
        },
        [ids.guest(g.id), ids.gatewayHttp(g.id), ...certFiles],
      );
    }
    if (g.features.includes('traefik')) {
      add(
        {
          id: ids.mesh(g.id),
          kind: 'mesh',
          label: `traefik mesh in ${g.id}`,
          origin: g.origin,
          owns: [inGuest(g.id, MANAGED_PATHS.traefikDynamic)],
          spec: { kind: 'mesh', guest: g.id },
        },
        [ids.guest(g.id)],
      );
    }
  }
}

/**
 * The request path gateway → mesh is proven by its own node, which needs both in place. Neither requires
 * the other: a mesh that fails must not hold back the gateway's certificate renewals, nor the reverse.
 */
function addReach(inv: Inventory, nodes: Map<string, Draft>, add: Add): void {
  const mesh = meshGuest(inv);
  const gateway = [...nodes.values()].find((d) => d.spec.kind === 'gateway' && d.spec.part === 'tls');
  if (!mesh || !gateway || gateway.spec.kind !== 'gateway' || !nodes.has(ids.mesh(mesh.id))) return;
  const requires = [gateway.id, ids.mesh(mesh.id)];
  const node = add(
    {
      id: ids.reach(gateway.spec.guest),
      kind: 'reach',
      label: `the gateway in ${gateway.spec.guest} reaches the mesh in ${mesh.id}`,
      spec: { kind: 'reach', gateway: gateway.spec.guest, mesh: mesh.id },
    },
    requires,
  );
  for (const id of requires) node.triggers.add(id);
}

/**
 * An ACME certificate is validated over http-01 at the gateway's port 80 (names resolve to the gateway):
 * its issuance waits for the port-80 server and for the DNS records that send the CA there.
 */
function requireHttp01Path(inv: Inventory, nodes: Map<string, Draft>, diags: Diagnostics): void {
  const gateway = [...nodes.values()].find((d) => d.spec.kind === 'gateway' && d.spec.part === 'http');
  for (const cert of inv.certificates) {
    if (inv.issuers.get(cert.issuer)?.type !== 'acme') continue;
    const node = nodes.get(ids.cert(cert.name));
    if (!node) continue;
    if (!gateway) {
      diags.error(
        cert.origin,
        'acme.no-gateway',
        `certificate "${cert.name}" uses the ACME issuer "${cert.issuer}", whose http-01 challenges are served by the gateway's port 80, but no guest runs the gateway (feature "nginx")`,
      );
      continue;
    }
    node.requires.add(gateway.id);
    if (nodes.has(ids.dns())) node.requires.add(ids.dns());
  }
}

/** The gateway guest: feature "nginx", or (original files) the guest whose routed service is named nginx. */
export function isGateway(g: Guest): boolean {
  return g.features.includes('nginx') || g.routed?.name === 'nginx';
}
