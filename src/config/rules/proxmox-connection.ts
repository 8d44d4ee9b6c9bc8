import type { RuleContext } from './context.js';

/**
 * A configuration that targets Proxmox must say how to reach it: caught by `validate`, not by the first
 * sync that tries. The API transport needs a node to talk to and its certificate pinned (a token is sent
 * to it), and LXC exec/file push need pct — on the node itself or over SSH to the same host.
 */
export function checkProxmoxConnection({ raw, diags }: RuleContext): void {
  const hv = raw.hypervisor;
  if (!hv || hv.data.target !== 'proxmox') return;
  const file = hv.file;
  const conn = hv.data.proxmox;
  if (!conn) {
    diags.error(
      { file, pointer: '/target' },
      'proxmox.connection',
      'target is "proxmox" but there is no "proxmox" block saying how to reach it (transport, host, api token, certificate pin); see docs/config-reference.md',
    );
    return;
  }
  if ((conn.transport ?? 'api') !== 'api') return;
  if (!conn.host)
    diags.error(
      { file, pointer: '/proxmox' },
      'proxmox.connection',
      'the API transport needs "host": the node whose API Phoenix calls',
    );
  if (!conn.api)
    diags.error(
      { file, pointer: '/proxmox' },
      'proxmox.connection',
      'the API transport needs "api": { "token_id", "token_secret" (a file: or env: reference), and "fingerprint" or "ca_file" }',
    );
  else if (!conn.api.fingerprint && !conn.api.ca_file)
    diags.error(
      { file, pointer: '/proxmox/api' },
      'proxmox.connection',
      'pin the node\'s certificate with "fingerprint" (pvenode cert info) or "ca_file": the API token is never sent to an unverified server',
    );
}
