import type { Diagnostics } from '../diagnostics.js';
import type { RawConfig } from '../load.js';
import type { Inventory } from '../../model/inventory.js';
import { checkCertificateReferences } from './certificate-references.js';
import { checkCertificates } from './certificates.js';
import { checkComposeVariables } from './compose-variables.js';
import type { Rule } from './context.js';
import { checkFirewall } from './firewall.js';
import { checkGatewayMesh } from './gateway-mesh.js';
import { checkGuestReferences } from './guest-references.js';
import { checkGuestSanity } from './guest-sanity.js';
import { checkIdMaps } from './id-maps.js';
import { checkLegacyHooks } from './legacy-hooks.js';
import { checkPortainer } from './portainer.js';
import { checkProxmoxConnection } from './proxmox-connection.js';
import { checkSecrets } from './secrets.js';
import { checkSharedVolumeMounts } from './shared-volumes.js';
import { checkStackDeployments } from './stack-deployments.js';
import { checkStackVolumes } from './stack-volumes.js';
import { checkUniqueness } from './uniqueness.js';

/**
 * One concern per rule. They are independent (none reads another's findings), so order only affects the
 * order of diagnostics before analyse() sorts them by place.
 */
export const RULES: readonly Rule[] = [
  checkGuestReferences,
  checkCertificateReferences,
  checkSharedVolumeMounts,
  checkUniqueness,
  checkGuestSanity,
  checkIdMaps,
  checkStackDeployments,
  checkComposeVariables,
  checkStackVolumes,
  checkCertificates,
  checkLegacyHooks,
  checkSecrets,
  checkFirewall,
  checkGatewayMesh,
  checkProxmoxConnection,
  checkPortainer,
];

/** Semantic validation: every rule sees the whole inventory and reports into one bag. */
export function runRules(inv: Inventory, raw: RawConfig, diags: Diagnostics): void {
  const ctx = { inv, raw, diags };
  for (const rule of RULES) rule(ctx);
}
