import { pointer } from '../diagnostics.js';
import { guestLabel, type RuleContext } from './context.js';

/**
 * hypervisor `shared_volumes` bind-mount host directories into guests. The original file still lists
 * guests that were renumbered long ago; the model skips those mounts, and this says so instead of failing.
 */
export function checkSharedVolumeMounts({ inv, raw, diags }: RuleContext): void {
  const hv = raw.hypervisor;
  for (const [name, volume] of Object.entries(hv?.data.shared_volumes ?? {})) {
    // The legacy cluster firewall lives under shared_volumes too; it is not a volume.
    if (name === 'firewall' || !volume || !('host_path' in volume)) continue;
    for (const [id, guestPath] of Object.entries(volume.mounts)) {
      const origin = { file: hv!.file, pointer: pointer('shared_volumes', name, 'mounts', id) };
      const mount = `shared volume "${name}" mounts ${volume.host_path} at ${guestPath}`;
      const g = inv.guests.get(Number(id));
      if (!g) {
        diags.warning(
          origin,
          'ref.unknown-mount-guest',
          `${mount} into guest ${id}, which is not declared; the mount is ignored. Remove the entry, or declare the guest.`,
        );
      } else if (g.kind === 'vm') {
        diags.warning(
          origin,
          'ref.mount-into-vm',
          `${mount} into ${guestLabel(g)}, but bind mounts reach containers only; the mount is ignored. ` +
            'Give the VM an NFS volume in its "volumes" instead.',
        );
      }
    }
  }
}
