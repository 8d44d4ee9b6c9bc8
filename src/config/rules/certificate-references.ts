import type { Origin } from '../diagnostics.js';
import type { GuestRef } from '../../model/inventory.js';
import { at, type RuleContext } from './context.js';

/** Certificates and issuers name guests: where files go, what to reload, where the CA runs. */
export function checkCertificateReferences({ inv, raw, diags }: RuleContext): void {
  const unknown = (ref: GuestRef | undefined) => ref !== undefined && ref !== 'host' && !inv.guests.has(ref);
  const report = (origin: Origin, what: string, id: GuestRef | undefined) =>
    diags.error(
      origin,
      'ref.unknown-guest',
      `${what} guest ${id}, which is declared in neither phoenix_lxc_configs.json nor phoenix_vm_configs.json. ` +
        'Declare that guest or correct the id.',
    );

  for (const cert of inv.certificates) {
    // Legacy targets are derived from known mounts, so only typed "install" entries can name a stranger.
    for (const target of cert.install) {
      if (unknown(target.guest))
        report(at(target.origin, 'guest'), `certificate "${cert.name}" installs into`, target.guest);
    }
    for (const f of cert.followUps) {
      if (!unknown(f.guest)) continue;
      // A follow-up read from post_renewal_command has the hook as its origin: there is no "guest" field.
      const fromHook = f.origin.pointer === cert.legacyHook?.origin.pointer;
      const verb =
        f.type === 'reload-service' ? `reloads ${f.service} in` : `restarts container ${f.container} on`;
      report(fromHook ? f.origin : at(f.origin, 'guest'), `certificate "${cert.name}" ${verb}`, f.guest);
    }
  }

  for (const issuer of inv.issuers.values()) {
    // `guest` is present only on issuers declared in the manifest; the implicit one comes from step_ca.guest.
    if (issuer.guest !== undefined && unknown(Number(issuer.guest))) {
      report(at(issuer.origin, 'guest'), `issuer "${issuer.name}" runs on`, Number(issuer.guest));
    }
  }
  const caGuest = raw.hypervisor?.data.step_ca?.guest;
  if (raw.hypervisor && caGuest !== undefined && unknown(Number(caGuest))) {
    report({ file: raw.hypervisor.file, pointer: '/step_ca/guest' }, 'step_ca runs on', Number(caGuest));
  }
}
