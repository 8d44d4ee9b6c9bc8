import type { PveApi } from './client.js';
import { DriverError } from '../../errors.js';
import { isVmidFree, listClusterGuests, nextIdHint } from './resources.js';
import type { CallOptions } from './resources.js';

/**
 * VMIDs picked on Phoenix's side. `/cluster/nextid` reserves nothing: two concurrent creates asking it get
 * the same id, and one of them fails. The allocator takes the hint only as a lower bound, skips every id
 * the cluster already has (`/cluster/resources`) and every id it handed out itself and that is not
 * released yet, reserves the candidate synchronously (no await between choice and reservation, so
 * concurrent allocations in this process never collide), and asks the cluster to confirm the id is free
 * (`/cluster/nextid?vmid=N`). Another process can still take the id before the create: the create then
 * fails with VmidTaken and the caller allocates again.
 */
export class VmidAllocator {
  private readonly reserved = new Set<number>();

  constructor(
    private readonly client: PveApi,
    private readonly range: { readonly min?: number; readonly max?: number } = {},
  ) {}

  /** Ids handed out and not released. */
  get pending(): ReadonlySet<number> {
    return this.reserved;
  }

  async allocate(opts: CallOptions = {}): Promise<number> {
    const min = Math.max(100, this.range.min ?? 100);
    const max = Math.min(999_999_999, this.range.max ?? 999_999_999);
    const [guests, hint] = await Promise.all([
      listClusterGuests(this.client, opts),
      nextIdHint(this.client, opts),
    ]);
    const used = new Set(guests.map((g) => g.vmid));
    for (let tries = 0; tries < 64; tries += 1) {
      let candidate = Math.max(min, hint);
      while (candidate <= max && (used.has(candidate) || this.reserved.has(candidate))) candidate += 1;
      if (candidate > max) break;
      this.reserved.add(candidate); // synchronously after the choice
      if (await isVmidFree(this.client, candidate, opts)) return candidate;
      this.reserved.delete(candidate);
      used.add(candidate);
    }
    throw new DriverError(`no free VMID in ${min}..${max}`, false, 'pve-vmid');
  }

  /** After the guest exists (it is then in /cluster/resources) or the create was abandoned. */
  release(vmid: number): void {
    this.reserved.delete(vmid);
  }
}
