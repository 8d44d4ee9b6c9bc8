import {
  PortainerApiDriver,
  type PortainerApiDriverOptions,
} from '../../src/drivers/portainer/api-driver.js';
import type { Drivers } from '../../src/drivers/index.js';
import type { MemoryDrivers } from '../../src/drivers/memory/index.js';
import type { SecretSource } from '../../src/drivers/secrets/types.js';
import type { PortainerEmulator } from '../emulators/portainer/index.js';

/** The memory world's drivers with Portainer replaced by the real HTTP driver against the emulator. */
export function withEmulatedPortainer(
  emu: PortainerEmulator,
  secrets: SecretSource,
  tune: Partial<PortainerApiDriverOptions> = {},
): (built: { readonly mem: MemoryDrivers }) => Drivers {
  return ({ mem }) => ({
    ...mem.drivers,
    portainer: new PortainerApiDriver({
      baseUrl: emu.url,
      caPem: () => Promise.resolve(emu.caPem),
      adminUser: 'admin',
      secrets,
      ...tune,
    }),
  });
}
