import type { VmGuest } from '../../model/inventory.js';
import type { PveApi } from './api/client.js';
import { agentExecChecked, waitForAgent } from './api/agent.js';
import { mergeFstab, nfsFstabEntries } from './config/qemu.js';
import { readFileVia, writeFileVia } from './files.js';
import type { GuestShell } from './guest-shell.js';

const FSTAB = '/etc/fstab';

/**
 * What a started VM needs before anything else may use it: its guest agent answering (every file and exec
 * call goes through it), then the NFS volumes of its configuration in /etc/fstab and mounted — the stacks
 * that use them start after this. Only Phoenix's entries are replaced; the rest of fstab is kept.
 */
export async function afterVmStart(
  api: PveApi,
  vm: { readonly node: string; readonly vmid: number },
  guest: VmGuest,
  shell: GuestShell,
  opts: { readonly agentTimeoutMs?: number; readonly pollMs?: number; readonly signal?: AbortSignal } = {},
): Promise<void> {
  await waitForAgent(api, vm, {
    ...(opts.agentTimeoutMs !== undefined ? { timeoutMs: opts.agentTimeoutMs } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const entries = nfsFstabEntries(guest);
  if (entries.length === 0) return;
  const current = await readFileVia(shell, FSTAB);
  const text = current ? new TextDecoder().decode(current.content) : '';
  const merged = mergeFstab(text, entries);
  if (merged !== text)
    await writeFileVia(shell, FSTAB, new TextEncoder().encode(merged), {
      owner: 'root',
      group: 'root',
      mode: 0o644,
    });
  for (const e of entries) await agentExecChecked(api, vm, ['mkdir', '-p', e.mountPoint]);
  await agentExecChecked(api, vm, ['mount', '-a']);
}
