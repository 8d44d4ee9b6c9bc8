import type { ComposeModel } from '../config/compose.js';
import type { Origin } from '../config/diagnostics.js';
import type { FirewallRuleConfig } from '../config/schema/common.js';
import type { HypervisorConfig } from '../config/schema/hypervisor.js';
import type { LxcGuestConfig, VmGuestConfig } from '../config/schema/guest.js';
import type { IssuerConfig } from '../config/schema/certificates.js';
import type { StackConfig } from '../config/schema/stack.js';
import type { IdMap } from './idmap.js';

/** The typed desired state: what every later stage (graph, plan, drivers) reads. Built once from the config. */

export type GuestId = number;
export type GuestRef = GuestId | 'host';
export type Target = 'lab' | 'proxmox';

export interface Mount {
  readonly hostPath: string;
  readonly guestPath: string;
  readonly ownerUid?: number;
  readonly ownerGid?: number;
  readonly origin: Origin;
}

export interface FirewallRule extends FirewallRuleConfig {
  readonly origin: Origin;
}

export interface FirewallPolicy {
  readonly enabled: boolean;
  readonly rules: readonly FirewallRule[];
}

export interface RoutedService {
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly scheme: 'http' | 'https';
  readonly healthPath?: string;
  readonly origin: Origin;
}

interface GuestBase {
  readonly id: GuestId;
  readonly name: string;
  readonly origin: Origin;
  readonly isTemplate: boolean;
  readonly cloneFrom?: GuestId;
  readonly dependencies: readonly GuestId[];
  /** Static address without prefix; undefined for DHCP. */
  readonly ip?: string;
  readonly prefixLength?: number;
  readonly gateway?: string;
  readonly nameservers: readonly string[];
  readonly mac?: string;
  readonly boot: { readonly onBoot: boolean; readonly order: number; readonly delaySeconds: number };
  readonly features: readonly string[];
  readonly routed?: RoutedService;
  readonly firewall: FirewallPolicy;
  readonly node?: string;
  /** Sizing with the file's defaults applied (VMs take vm_defaults). */
  readonly resources: {
    readonly cores?: number;
    readonly memoryMb?: number;
    readonly diskGb?: number;
    readonly storage?: string;
    /** OS template (LXC) or cloud image template name (VM) for guests that are not clones. */
    readonly template?: string;
  };
  /** Snapshot that clones of this guest are made from. */
  readonly snapshotName?: string;
}

export interface LxcGuest extends GuestBase {
  readonly kind: 'lxc';
  readonly unprivileged: boolean;
  /** Effective uid/gid map of the container (Proxmox's default range with the configured exceptions). */
  readonly idMap: IdMap;
  readonly mounts: readonly Mount[];
  readonly config: LxcGuestConfig;
}

export interface StackDeployment {
  readonly stack: string;
  readonly environment: string;
  readonly origin: Origin;
}

export interface VmGuest extends GuestBase {
  readonly kind: 'vm';
  readonly stacks: readonly StackDeployment[];
  readonly config: VmGuestConfig;
}

export type Guest = LxcGuest | VmGuest;

/** Where a file lives. Paths that reach the host through a bind mount also carry the host path. */
export interface FileLocation {
  readonly guest: GuestRef;
  readonly path: string;
  /** The same file as seen from the host, when the guest path is inside a bind mount. */
  readonly hostPath?: string;
}

export interface FileSpec {
  readonly location: FileLocation;
  /** Owner and group as seen inside the guest (names or numeric ids). */
  readonly owner: string | number;
  readonly group: string | number;
  readonly mode: number;
  readonly origin: Origin;
}

export interface InstallTarget {
  readonly guest: GuestRef;
  readonly key: FileSpec;
  readonly cert: FileSpec;
  readonly chain?: FileSpec;
  readonly origin: Origin;
}

export type FollowUp =
  | {
      readonly type: 'reload-service';
      readonly guest: GuestRef;
      readonly service: string;
      readonly origin: Origin;
    }
  | {
      readonly type: 'restart-container';
      readonly guest: GuestId;
      readonly container: string;
      readonly origin: Origin;
    };

export type KeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export interface Certificate {
  readonly name: string;
  readonly origin: Origin;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly usage: 'server' | 'client';
  readonly keyType: KeyType;
  readonly lifetimeSeconds?: number;
  /** Renew when less than this fraction of the lifetime remains. */
  readonly renewWindow: number;
  readonly issuer: string;
  readonly install: readonly InstallTarget[];
  readonly followUps: readonly FollowUp[];
  /** Extra resource ids this certificate's delivery waits for. */
  readonly requires: readonly { readonly id: string; readonly origin: Origin }[];
  /** The original shell hook, kept for analysis and messages; never executed. */
  readonly legacyHook?: { readonly command: string; readonly origin: Origin };
}

export type Issuer = IssuerConfig & {
  readonly name: string;
  readonly origin: Origin;
  readonly guestId?: GuestId;
};

export interface DockerVolume {
  readonly name: string;
  readonly driver: 'local' | 'nfs';
  readonly server?: string;
  readonly export?: string;
  readonly options?: string;
  /** False when the stack's phoenix.json does not declare it and Phoenix falls back to a local volume. */
  readonly declared: boolean;
  readonly origin: Origin;
}

export interface Stack {
  readonly name: string;
  readonly origin: Origin;
  readonly composeFile: string;
  /** The compose file as written; deployed verbatim (Phoenix adds labels, never rewrites services). */
  readonly composeText: string;
  readonly config: StackConfig;
  readonly compose: ComposeModel;
  readonly volumes: readonly DockerVolume[];
  readonly requires: readonly { readonly id: string; readonly origin: Origin }[];
}

export interface SecretUse {
  readonly kind: 'file' | 'env' | 'plaintext';
  /** The file path or variable name; undefined for plaintext (its value is never kept in the inventory). */
  readonly ref?: string;
  readonly origin: Origin;
}

export interface Inventory {
  readonly configDir: string;
  readonly target: Target;
  readonly domain: string;
  readonly hostAddress?: string;
  readonly hypervisor: HypervisorConfig;
  readonly guests: ReadonlyMap<GuestId, Guest>;
  readonly certificates: readonly Certificate[];
  readonly issuers: ReadonlyMap<string, Issuer>;
  readonly stacks: ReadonlyMap<string, Stack>;
  readonly clusterFirewall: FirewallPolicy & {
    readonly policyIn: 'ACCEPT' | 'DROP' | 'REJECT';
    readonly policyOut: 'ACCEPT' | 'DROP' | 'REJECT';
  };
  readonly dns: { readonly enabled: boolean; readonly upstream: readonly string[] };
  readonly secrets: readonly SecretUse[];
}
