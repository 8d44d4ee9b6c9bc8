/**
 * At most `limit` mutating calls in flight per Proxmox node. A node's task workers and its config locks
 * are the contended resources, so the bound is per node, not global; callers on other nodes never wait.
 */
export class NodeLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(readonly limit = 4) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`node concurrency must be ≥ 1, got ${limit}`);
  }

  async run<T>(node: string, fn: () => Promise<T>): Promise<T> {
    await this.acquire(node);
    try {
      return await fn();
    } finally {
      this.release(node);
    }
  }

  /** Calls in flight on the node right now (for tests). */
  inFlight(node: string): number {
    return this.active.get(node) ?? 0;
  }

  private acquire(node: string): Promise<void> {
    const n = this.active.get(node) ?? 0;
    if (n < this.limit) {
      this.active.set(node, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(node) ?? this.waiting.set(node, []).get(node)!;
      // The slot is handed over directly: the count stays the same.
      queue.push(resolve);
    });
  }

  private release(node: string): void {
    const next = this.waiting.get(node)?.shift();
    if (next) return next();
    this.active.set(node, (this.active.get(node) ?? 1) - 1);
  }
}
