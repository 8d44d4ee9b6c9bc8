import { splitPointer } from '../diagnostics.js';
import type { RuleContext } from './context.js';

/**
 * Secrets are referenced ("file:/path", "env:NAME"), never written into config files. The inventory keeps
 * no plaintext value, so these messages cannot leak one. File references are not read here: validate
 * must not depend on secrets being present on the machine that runs it.
 */
export function checkSecrets({ inv, diags }: RuleContext): void {
  for (const s of inv.secrets) {
    const field = splitPointer(s.origin.pointer).join('.');
    if (s.kind === 'plaintext') {
      diags.warning(
        s.origin,
        'secret.plaintext',
        `${field} holds a plaintext secret, which ends up in backups, commits and diffs. Put it in a file readable ` +
          'only by root (mode 0600) and write "file:/path/to/that/file", or pass it in the environment and write "env:NAME".',
      );
    } else if (s.kind === 'file' && !/^(?!.*(^|\/)\.\.?(\/|$))\/\S*[^/]$/.test(s.ref ?? '')) {
      diags.error(
        s.origin,
        'secret.invalid-ref',
        `${field} refers to file "${s.ref}", which is not an absolute path to a file; write "file:/absolute/path".`,
      );
    } else if (s.kind === 'env' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.ref ?? '')) {
      diags.error(
        s.origin,
        'secret.invalid-ref',
        `${field} refers to environment variable "${s.ref}", which is not a valid variable name; write "env:NAME" with letters, digits and _.`,
      );
    }
  }
}
