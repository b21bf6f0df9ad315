/**
 * A keyed queue: each key is processed by at most one worker at a time, and events that
 * arrive while it is being processed fold into one more run afterwards.
 */
export class WorkQueue {
  private readonly order: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly concurrency = 16,
  ) {}

  add(key: string): void {
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.pump();
  }

  get size(): number {
    return this.order.length + this.active;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise(r => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.active < this.concurrency && this.order.length) {
      const key = this.order.shift()!;
      this.queued.delete(key);
      this.running.add(key);
      this.active++;
      void this.work(key)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(key);
          this.active--;
          if (this.again.delete(key)) this.add(key);
          this.pump();
          if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }
}
