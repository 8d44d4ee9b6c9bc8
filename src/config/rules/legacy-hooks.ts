import { analyseHook } from '../legacy/hooks.js';
import type { RuleContext } from './context.js';
import { deployMessage, secondWriterMessage, untypedMessage } from './hook-messages.js';
import { collisions, ownedFiles } from './hook-writes.js';

/**
 * The legacy `post_renewal_command` is where both failures of the root-cause analysis lived:
 *  1. a hook that chmod/chown/mv'd a key the renewal had just installed (two writers of one fact);
 *  2. a hook that ran `docker compose up` before the volume it needed existed (order by position).
 * Phoenix never runs hooks. A hook that is exactly one reload/restart is already a typed follow-up
 * (model/build); every other hook is reported, as an error when it repeats one of those two failures.
 */
export function checkLegacyHooks({ inv, diags }: RuleContext): void {
  const owned = ownedFiles(inv.certificates);
  for (const cert of inv.certificates) {
    const hook = cert.legacyHook;
    if (!hook) continue;
    const analysis = analyseHook(hook.command);
    // Any certificate's files count, not only this one's: one hook's `chown /etc/nginx/ssl/*` reaches them all.
    const collided = collisions(analysis.writes, owned, inv.guests);
    for (const c of collided) diags.error(hook.origin, 'hook.second-writer', secondWriterMessage(c, inv));
    if (analysis.deploys.length)
      diags.error(hook.origin, 'hook.deploys', deployMessage(analysis.deploys, inv));
    if (!analysis.followUp) diags.warning(hook.origin, 'hook.untyped', untypedMessage(analysis, collided));
  }
}
