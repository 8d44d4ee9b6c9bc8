import type { Guest, GuestId } from '../../model/inventory.js';
import { at, guestLabel, type RuleContext } from './context.js';

/**
 * Guest → guest references: dependencies and clone sources. An unknown id here would otherwise surface
 * only as a graph edge to nothing; this names the field the user has to fix.
 */
export function checkGuestReferences({ inv, diags }: RuleContext): void {
  for (const g of inv.guests.values()) {
    g.dependencies.forEach((dep, i) => {
      const origin = at(g.origin, 'dependencies', i);
      if (dep === g.id) {
        diags.error(
          origin,
          'ref.self-dependency',
          `${guestLabel(g)} lists itself in "dependencies"; a guest cannot wait for itself. Remove ${dep} from the list.`,
        );
      } else if (!inv.guests.has(dep)) {
        diags.error(origin, 'ref.unknown-guest', `${guestLabel(g)} depends on guest ${dep}, ${UNDECLARED}`);
      }
    });
    if (g.cloneFrom !== undefined) checkCloneSource(g, g.cloneFrom, { inv, diags });
  }
}

const UNDECLARED =
  'which is declared in neither phoenix_lxc_configs.json nor phoenix_vm_configs.json. Declare that guest or correct the id.';

function checkCloneSource(
  g: Guest,
  sourceId: GuestId,
  { inv, diags }: Pick<RuleContext, 'inv' | 'diags'>,
): void {
  const field = g.kind === 'lxc' ? 'clone_from_ctid' : 'clone_from_vmid';
  const origin = at(g.origin, field);
  const source = inv.guests.get(sourceId);
  if (sourceId === g.id) {
    diags.error(
      origin,
      'ref.self-dependency',
      `${guestLabel(g)} is cloned from itself; name another guest in "${field}".`,
    );
  } else if (!source) {
    diags.error(
      origin,
      'ref.unknown-guest',
      `${guestLabel(g)} is cloned from guest ${sourceId}, ${UNDECLARED}`,
    );
  } else if (source.kind !== g.kind) {
    // pct clone copies containers and qm clone copies VMs; neither turns one into the other.
    const wanted = g.kind === 'lxc' ? 'container' : 'VM';
    diags.error(
      origin,
      'ref.clone-kind',
      `${guestLabel(g)} is cloned from ${guestLabel(source)}, but a ${wanted} can only be cloned from a ${wanted}. ` +
        `Name a ${wanted} template in "${field}".`,
    );
  }
}
