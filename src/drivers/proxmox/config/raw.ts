import type { RawLine } from './idmap.js';
import { formatRawLine } from './idmap.js';

/**
 * Writes raw `lxc.*` lines into the text of /etc/pve/lxc/<vmid>.conf (pure: text in, text out; the CLI
 * transport reads and writes the file). Every main-section line whose key is among `rawLines`' keys, or
 * in `alsoOwned`, is replaced; everything else, including snapshot sections (`[name]`) and pending changes
 * (`[pve:pending]`), is kept. A clone inherits its source's lxc.* lines: this is how they are made right.
 */
export function mergeRawLines(
  confText: string,
  rawLines: readonly RawLine[],
  alsoOwned: readonly string[] = ['lxc.idmap', 'lxc.apparmor.profile'],
): string {
  const owned = new Set([...alsoOwned, ...rawLines.map((l) => l.key)]);
  const lines = confText.split('\n');
  let end = lines.findIndex((l) => /^\[[^\]]+\]\s*$/.test(l));
  if (end < 0) end = lines.length;
  const main = lines.slice(0, end).filter((l) => {
    const m = /^(lxc\.[a-z0-9_.-]+)\s*[:=]/.exec(l);
    return !(m && owned.has(m[1]!));
  });
  while (main.length && main[main.length - 1]!.trim() === '') main.pop();
  const rest = lines.slice(end);
  const out = [...main, ...rawLines.map(formatRawLine)];
  return rest.length ? `${out.join('\n')}\n\n${rest.join('\n')}` : `${out.join('\n')}\n`;
}
