import type { Origin } from '../config/diagnostics.js';
import type {
  Certificate,
  DockerVolume,
  FileSpec,
  Guest,
  GuestId,
  GuestRef,
  Issuer,
  Stack,
} from '../model/inventory.js';
import type { StackPlacement } from '../drivers/portainer/driver.js';
import type { PortainerAgent, PortainerServer, StackRoute } from '../model/portainer.js';

/**
 * The resource graph: every piece of desired state is a node with a stable, readable id, and order
 * comes only from its explicit `requires` edges (never from the position of code).
 */

export type ResourceKind =
  | 'guest'
  | 'issuer'
  | 'cert'
  | 'file'
  | 'reload'
  | 'restart'
  | 'volume'
  | 'stack'
  | 'portainer-server'
  | 'portainer-admin'
  | 'portainer-agent'
  | 'portainer-environment'
  | 'dns'
  | 'firewall'
  | 'gateway'
  | 'mesh'
  | 'trust'
  // Checks only: proves a path through several resources once they are all in place.
  | 'reach'
  // Guest lifecycle verbs (start/stop/restart/delete) build plans of these.
  | 'power'
  | 'removal';

/** The one place a resource writes to: two resources may never own the same place. */
export interface OwnedPath {
  readonly guest: GuestRef;
  readonly path: string;
  /** Canonical identity: the host path when the file is reachable through a bind mount. */
  readonly key: string;
}

export type ResourceSpec =
  | { readonly kind: 'guest'; readonly guest: Guest; readonly createOnly?: boolean }
  | { readonly kind: 'issuer'; readonly issuer: Issuer }
  | { readonly kind: 'cert'; readonly certificate: Certificate }
  | {
      readonly kind: 'file';
      readonly certificate: string;
      readonly role: 'key' | 'cert' | 'chain';
      readonly file: FileSpec;
    }
  | { readonly kind: 'reload'; readonly guest: GuestRef; readonly service: string }
  | { readonly kind: 'restart'; readonly guest: GuestId; readonly container: string; readonly stack?: string }
  | {
      readonly kind: 'volume';
      readonly guest: GuestId;
      readonly volume: DockerVolume;
      readonly stacks: readonly string[];
      readonly route: StackRoute;
      readonly placement?: StackPlacement;
    }
  | {
      readonly kind: 'stack';
      readonly guest: GuestId;
      readonly stack: Stack;
      readonly environment: string;
      readonly route: StackRoute;
      readonly placement?: StackPlacement;
      /** The Portainer server's service: it gets the agents' shared secret. */
      readonly agentSecretService?: string;
    }
  | { readonly kind: 'portainer-server'; readonly server: PortainerServer }
  | { readonly kind: 'portainer-admin'; readonly server: PortainerServer; readonly user: string }
  | { readonly kind: 'portainer-agent'; readonly agent: PortainerAgent }
  | {
      readonly kind: 'portainer-environment';
      readonly name: string;
      readonly guest: GuestId;
      /** Absent for the server's own local environment, which Portainer creates itself. */
      readonly agent?: PortainerAgent;
    }
  | { readonly kind: 'dns' }
  | { readonly kind: 'firewall'; readonly guest: GuestRef }
  | { readonly kind: 'gateway'; readonly guest: GuestId; readonly part: 'http' | 'tls' }
  | { readonly kind: 'mesh'; readonly guest: GuestId }
  | { readonly kind: 'trust'; readonly guest: GuestRef }
  | { readonly kind: 'reach'; readonly gateway: GuestId; readonly mesh: GuestId }
  | { readonly kind: 'power'; readonly guest: Guest; readonly want: 'running' | 'stopped' | 'restarted' }
  | { readonly kind: 'removal'; readonly guest: Guest };

export interface ResourceNode {
  /** Stable and readable: `guest/101`, `file/101:/etc/nginx/ssl/a.key`, `stack/1002:qdrant_service`. */
  readonly id: string;
  readonly kind: ResourceKind;
  readonly label: string;
  /** Ids this node needs to exist (and to have succeeded) before it runs. */
  readonly requires: readonly string[];
  /**
   * For handlers (reload, restart): the subset of `requires` whose change makes this node run at all.
   * A handler with no changed trigger is a no-op.
   */
  readonly triggers: readonly string[];
  readonly owns: readonly OwnedPath[];
  readonly origin?: Origin;
  readonly spec: ResourceSpec;
}

export interface ResourceGraph {
  /** Insertion order is deterministic (config order), so output built from it is stable. */
  readonly nodes: ReadonlyMap<string, ResourceNode>;
}

/** A `requires` edge to an id that no node provides, kept for the static check to report. */
export interface DanglingRequirement {
  readonly from: string;
  readonly to: string;
  readonly origin?: Origin;
  readonly hint?: string;
}
