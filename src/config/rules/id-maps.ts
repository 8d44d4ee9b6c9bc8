import { overlappingExceptions } from '../../model/idmap.js';
import { at, guestLabel, type RuleContext } from './context.js';

/** Overlapping `id_maps` entries make a uid/gid map the kernel refuses: the container would not start. */
export function checkIdMaps({ inv, diags }: RuleContext): void {
  for (const g of inv.guests.values()) {
    if (g.kind !== 'lxc') continue;
    const maps = g.config.id_maps ?? [];
    for (const [i, j] of overlappingExceptions(maps)) {
      const a = maps[i]!;
      const b = maps[j]!;
      diags.error(
        at(g.origin, 'id_maps', j),
        'guest.idmap-overlap',
        `${guestLabel(g)}: id_maps entry ${j} (${b.type} ${b.container_id}→${b.host_id}, ${b.size}) overlaps entry ${i} ` +
          `(${a.type} ${a.container_id}→${a.host_id}, ${a.size}); the kernel refuses overlapping ${b.type} ranges and the container would not start.`,
      );
    }
  }
}
