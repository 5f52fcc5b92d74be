/**
 * A log-bucketed latency histogram: constant memory whatever the number of samples, 1 % relative
 * precision, mergeable (the benchmark adds up the load generator's vehicles). Values in milliseconds.
 */
const MIN_MS = 0.01;
const GROWTH = 1.01;
const BUCKETS = Math.ceil(Math.log(1e7 / MIN_MS) / Math.log(GROWTH)) + 1; // 0.01 ms … ~2.8 h

export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private maximum = 0;

  record(ms: number): void {
    const value = Math.max(0, ms);
    const index = value <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(value / MIN_MS) / Math.log(GROWTH)));
    this.counts[index]!++;
    this.n++;
    this.sum += value;
    if (value > this.maximum) this.maximum = value;
  }

  get count(): number {
    return this.n;
  }

  /** The value at quantile q (0..1): the upper bound of its bucket, never above the true maximum. */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.maximum, MIN_MS * GROWTH ** i);
    }
    return this.maximum;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.n += other.n;
    this.sum += other.sum;
    this.maximum = Math.max(this.maximum, other.maximum);
  }

  summary(): LatencySummary {
    const round = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
    return {
      count: this.n,
      p50: round(this.quantile(0.5)),
      p90: round(this.quantile(0.9)),
      p99: round(this.quantile(0.99)),
      max: round(this.n === 0 ? null : this.maximum),
      mean: round(this.n === 0 ? null : this.sum / this.n),
    };
  }

  /** A compact form for IPC or JSON: the non-empty buckets. */
  toJSON(): { buckets: Array<[number, number]>; n: number; sum: number; max: number } {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, n: this.n, sum: this.sum, max: this.maximum };
  }

  static fromJSON(json: { buckets: Array<[number, number]>; n: number; sum: number; max: number }): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const [i, c] of json.buckets) h.counts[i] = c;
    h.n = json.n;
    h.sum = json.sum;
    h.maximum = json.max;
    return h;
  }
}
