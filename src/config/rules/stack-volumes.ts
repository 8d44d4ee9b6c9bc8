import { describeOrigin, guestLabel, warnAtOffset, type RuleContext } from './context.js';
import { topLevelEntryOffset } from './compose-text.js';

/**
 * An external volume is something the stack needs and does not create: the analysis's second failure.
 * Phoenix creates it before the stack; when phoenix.json does not say how, it falls back to a local
 * volume, which is valid but may not be what the original (NFS) setup meant.
 */
export function checkStackVolumes({ inv, raw, diags }: RuleContext): void {
  for (const stack of inv.stacks.values()) {
    const undeclared = stack.volumes.filter((v) => !v.declared);
    if (undeclared.length === 0) continue;
    const vms = [...inv.guests.values()].filter(
      (g) => g.kind === 'vm' && g.stacks.some((d) => d.stack === stack.name),
    );
    const on = vms.length ? `on ${vms.map(guestLabel).join(' and ')}` : 'on each VM that deploys it';
    const stackFile = describeOrigin(
      { file: raw.stacks.get(stack.name)?.file ?? stack.origin.file, pointer: '' },
      inv.configDir,
    );
    const src = raw.sources.get(stack.composeFile);
    for (const v of undeclared) {
      warnAtOffset(
        diags,
        src,
        stack.composeFile,
        src && topLevelEntryOffset(src.text, 'volumes', v.name),
        'stack.undeclared-volume',
        `external volume "${v.name}" of stack "${stack.name}" is not declared in the "volumes" of ${stackFile}; ` +
          `Phoenix will create it as a local volume ${on} before the stack. If its data must live elsewhere, ` +
          `declare it there, e.g. "${v.name}": {"driver":"nfs","server":"…","export":"/…"}.`,
      );
    }
  }
}
