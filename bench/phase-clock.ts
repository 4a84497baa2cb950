/**
 * Wall time a run spends per phase (dataset, mounts, warm-ups, drop_caches, verification, ...),
 * summed over the run: where a run's minutes go, printed at its end. A phase timed inside another
 * counts apart: its time is taken out of the enclosing phase's.
 */
export class PhaseClock {
  private readonly totalsMs = new Map<string, number>();
  private readonly started = performance.now();
  private readonly open: string[] = [];

  async time<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const started = this.enter(phase);
    try {
      return await work();
    } finally {
      this.leave(phase, started);
    }
  }

  timeSync<T>(phase: string, work: () => T): T {
    const started = this.enter(phase);
    try {
      return work();
    } finally {
      this.leave(phase, started);
    }
  }

  /** Milliseconds per phase so far, in the order phases first ended. */
  totals(): Map<string, number> {
    return new Map(this.totalsMs);
  }

  /** "time by phase: 212.0 s in all; mounts 3.1 s, ..., other 0.4 s" (other: outside every phase). */
  describe(): string {
    const allMs = performance.now() - this.started;
    const timedMs = [...this.totalsMs.values()].reduce((sum, ms) => sum + ms, 0);
    const phases = [...this.totalsMs, ['other', Math.max(0, allMs - timedMs)] as const]
      .map(([phase, ms]) => `${phase} ${(ms / 1000).toFixed(1)} s`)
      .join(', ');
    return `time by phase: ${(allMs / 1000).toFixed(1)} s in all; ${phases}`;
  }

  private enter(phase: string): number {
    // Listed in the order phases first began (the run's order).
    if (!this.totalsMs.has(phase)) this.totalsMs.set(phase, 0);
    this.open.push(phase);
    return performance.now();
  }

  private leave(phase: string, started: number): void {
    const ms = performance.now() - started;
    this.open.pop();
    this.totalsMs.set(phase, (this.totalsMs.get(phase) ?? 0) + ms);
    const outer = this.open.at(-1);
    if (outer !== undefined) this.totalsMs.set(outer, (this.totalsMs.get(outer) ?? 0) - ms);
  }
}
