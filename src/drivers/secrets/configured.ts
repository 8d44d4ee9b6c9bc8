import type { Inventory } from '../../model/inventory.js';
import { readSecret } from '../../model/secret-value.js';
import type { PhoenixSecret, SecretSource } from './types.js';

const FIELD: Record<PhoenixSecret, 'admin_password' | 'agent_secret'> = {
  'portainer-admin-password': 'admin_password',
  'portainer-agent-secret': 'agent_secret',
};

/** Secrets by the references of the hypervisor configuration's `portainer_api` block. */
export function configuredSecrets(inv: Inventory): SecretSource {
  return {
    async read(name) {
      const field = FIELD[name];
      const ref = inv.hypervisor.portainer_api?.[field];
      if (ref === undefined) {
        throw new Error(
          `portainer_api.${field} is not set in the hypervisor configuration; give it as env:NAME or file:/path (see secrets/README.md)`,
        );
      }
      return readSecret(ref, `portainer_api.${field}`);
    },
  };
}
