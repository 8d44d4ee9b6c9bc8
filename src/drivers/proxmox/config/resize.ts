/**
 * Disk growth: `PUT /nodes/{node}/{lxc|qemu}/{vmid}/resize` with `disk` and `size` (`pct resize` /
 * `qm disk resize` take the same two arguments). Phoenix always sends the absolute size ("32G"), never a
 * relative "+NG": a retried request after a lost response must not grow the disk twice. Proxmox cannot shrink
 * a disk ("shrinking disks is not supported"), so a smaller wish is refused with the reason, not attempted.
 */

export type ResizePlan =
  | { readonly action: 'none' }
  | { readonly action: 'grow'; readonly params: { readonly disk: string; readonly size: string } }
  | { readonly action: 'refuse'; readonly reason: string };

export function diskResizePlan(
  disk: string,
  wantGb: number | undefined,
  haveGb: number | undefined,
): ResizePlan {
  if (wantGb === undefined) return { action: 'none' };
  if (haveGb !== undefined && haveGb === wantGb) return { action: 'none' };
  if (haveGb !== undefined && haveGb > wantGb)
    return {
      action: 'refuse',
      reason: `${disk} is ${fmt(haveGb)} GiB and ${wantGb} GiB is declared: Proxmox cannot shrink a disk (grow the declaration, or recreate the guest)`,
    };
  return { action: 'grow', params: { disk, size: `${wantGb}G` } };
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
