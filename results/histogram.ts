import { z } from 'zod';

/**
 * Latency histograms kept in result files: one per operation kind per repetition, so reports can
 * draw latency CDFs and merge repetitions without the raw samples.
 *
 * Buckets are log-linear, as in HdrHistogram (Gil Tene): values are whole nanoseconds (rounded,
 * negatives count as 0); below 2·S (S = 2^SUB_BUCKET_BITS = 128) every value has its own bucket;
 * above, each power-of-two range [2^k, 2^(k+1)) is split into S equal buckets. So a bucket's
 * width is at most 1/128 of its lowest value: every value is kept to within 0.79%.
 *
 * Bucket index of value v: v itself when v < S; otherwise, with k = floor(log2 v) and
 * shift = k − SUB_BUCKET_BITS: shift·S + floor(v / 2^shift). The inverse is `bucketRange`.
 *
 * Encoding (`EncodedHistogram`, stored in the result file): `{ subBucketBits: 7, buckets }` where
 * `buckets` is base64 (RFC 4648 §4, with padding) of unsigned LEB128 varints, two per non-empty
 * bucket in increasing index order: the gap (index − previous index − 1, the previous index of
 * the first bucket being −1), then the count (≥ 1). An empty histogram is the empty string.
 *
 * Readers need only: `decodeHistogram`, `mergeHistograms`, `percentile(q)` and `cdf()`.
 * - percentile(q) is the type-7 rule of results/statistics (linear interpolation between closest
 *   ranks, Hyndman & Fan 1996) applied to the samples with each replaced by the midpoint of its
 *   bucket: on the same samples it differs from the exact percentile by at most a bucket width.
 * - cdf() gives, for each non-empty bucket, the bucket's highest value and the fraction of
 *   samples at or below it. Bucket edges are exact, so those fractions are exact, not estimates.
 */

export const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 2 ** SUB_BUCKET_BITS;

/** The bucket of whole-nanosecond value `value` (0 ≤ value ≤ 2^53). */
function bucketIndex(value: number): number {
  if (value < SUB_BUCKETS) return value;
  let log2 = Math.floor(Math.log2(value));
  // Math.log2 may round up just below a power of two.
  if (2 ** log2 > value) log2--;
  const shift = log2 - SUB_BUCKET_BITS;
  return shift * SUB_BUCKETS + Math.floor(value / 2 ** shift);
}

/** The lowest value and the width (number of whole values) of bucket `index`. */
export function bucketRange(index: number): { lowestNs: number; width: number } {
  if (index < 2 * SUB_BUCKETS) return { lowestNs: index, width: 1 };
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const mantissa = index - shift * SUB_BUCKETS;
  return { lowestNs: mantissa * 2 ** shift, width: 2 ** shift };
}

function wholeNanoseconds(value: number): number {
  if (!(value > 0)) return 0;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.round(value));
}

export interface CdfPoint {
  /** The highest value of a bucket (ns). */
  valueNs: number;
  /** Fraction of all samples ≤ valueNs. */
  fraction: number;
}

export class LatencyHistogram {
  /** Count per non-empty bucket index. */
  readonly #counts = new Map<number, number>();
  #total = 0;

  static of(values: Iterable<number>): LatencyHistogram {
    const histogram = new LatencyHistogram();
    for (const value of values) histogram.record(value);
    return histogram;
  }

  /** Adds `count` samples of `valueNs` (rounded to whole ns). */
  record(valueNs: number, count = 1): void {
    if (!Number.isSafeInteger(count) || count < 0)
      throw new RangeError(`histogram count must be a whole number ≥ 0, got ${count}`);
    if (count === 0) return;
    const index = bucketIndex(wholeNanoseconds(valueNs));
    this.#counts.set(index, (this.#counts.get(index) ?? 0) + count);
    this.#total += count;
  }

  get count(): number {
    return this.#total;
  }

  /** Non-empty buckets in increasing order. */
  buckets(): Array<{ index: number; count: number }> {
    return [...this.#counts].sort((a, b) => a[0] - b[0]).map(([index, count]) => ({ index, count }));
  }

  /** The q-quantile (0 ≤ q ≤ 1) by the type-7 rule over bucket midpoints. */
  percentile(q: number): number {
    if (this.#total === 0) throw new RangeError('percentile of an empty histogram');
    if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile: q must be in [0, 1], got ${q}`);
    const position = (this.#total - 1) * q;
    const lowerRank = Math.floor(position);
    const lower = this.#valueAtRank(lowerRank);
    const upper = this.#valueAtRank(Math.ceil(position));
    return lower + (upper - lower) * (position - lowerRank);
  }

  /** The midpoint of the bucket holding the sample of 0-based rank `rank`. */
  #valueAtRank(rank: number): number {
    let seen = 0;
    for (const { index, count } of this.buckets()) {
      seen += count;
      if (rank < seen) {
        const { lowestNs, width } = bucketRange(index);
        return lowestNs + (width - 1) / 2;
      }
    }
    throw new RangeError(`rank ${rank} beyond ${this.#total} samples`);
  }

  cdf(): CdfPoint[] {
    let seen = 0;
    return this.buckets().map(({ index, count }) => {
      seen += count;
      const { lowestNs, width } = bucketRange(index);
      return { valueNs: lowestNs + width - 1, fraction: seen / this.#total };
    });
  }

  encode(): EncodedHistogram {
    const bytes: number[] = [];
    let previous = -1;
    for (const { index, count } of this.buckets()) {
      writeVarint(bytes, index - previous - 1);
      writeVarint(bytes, count);
      previous = index;
    }
    return { subBucketBits: SUB_BUCKET_BITS, buckets: Buffer.from(bytes).toString('base64') };
  }

  #add(index: number, count: number): void {
    this.#counts.set(index, (this.#counts.get(index) ?? 0) + count);
    this.#total += count;
  }

  /** A new histogram holding the samples of all of `histograms`. */
  static merge(histograms: Iterable<LatencyHistogram>): LatencyHistogram {
    const merged = new LatencyHistogram();
    for (const histogram of histograms)
      for (const [index, count] of histogram.#counts) merged.#add(index, count);
    return merged;
  }

  static decode(encoded: EncodedHistogram): LatencyHistogram {
    if (encoded.subBucketBits !== SUB_BUCKET_BITS)
      throw new HistogramEncodingError(
        `sub-bucket bits ${encoded.subBucketBits}, expected ${SUB_BUCKET_BITS}`,
      );
    if (!BASE64.test(encoded.buckets)) throw new HistogramEncodingError('buckets are not base64');
    const bytes = Buffer.from(encoded.buckets, 'base64');
    const histogram = new LatencyHistogram();
    const cursor = { offset: 0 };
    let previous = -1;
    while (cursor.offset < bytes.length) {
      const index = previous + 1 + readVarint(bytes, cursor);
      if (cursor.offset >= bytes.length)
        throw new HistogramEncodingError(`bucket ${index} has no count (byte ${cursor.offset})`);
      const count = readVarint(bytes, cursor);
      if (count === 0) throw new HistogramEncodingError(`bucket ${index} has count 0`);
      if (index > MAX_INDEX)
        throw new HistogramEncodingError(`bucket ${index} beyond the last (${MAX_INDEX})`);
      histogram.#add(index, count);
      if (!Number.isSafeInteger(histogram.#total))
        throw new HistogramEncodingError('total count beyond 2^53');
      previous = index;
    }
    return histogram;
  }
}

export class HistogramEncodingError extends Error {
  constructor(what: string) {
    super(`invalid histogram encoding: ${what}`);
    this.name = 'HistogramEncodingError';
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_INDEX = bucketIndex(Number.MAX_SAFE_INTEGER);
/** 7 bits per byte: 8 bytes hold any count or gap up to 2^56, above every safe integer we write. */
const MAX_VARINT_BYTES = 8;

function writeVarint(bytes: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
}

function readVarint(bytes: Buffer, cursor: { offset: number }): number {
  let value = 0;
  for (let length = 0; length < MAX_VARINT_BYTES; length++) {
    const byte = bytes[cursor.offset];
    if (byte === undefined) throw new HistogramEncodingError(`varint cut short at byte ${cursor.offset}`);
    cursor.offset++;
    value += (byte & 0x7f) * 2 ** (7 * length);
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value))
        throw new HistogramEncodingError(`varint beyond 2^53 before byte ${cursor.offset}`);
      return value;
    }
  }
  throw new HistogramEncodingError(`varint longer than ${MAX_VARINT_BYTES} bytes at byte ${cursor.offset}`);
}

export const encodedHistogramSchema = z
  .object({
    subBucketBits: z.literal(SUB_BUCKET_BITS),
    buckets: z.string(),
  })
  .superRefine((encoded, context) => {
    try {
      LatencyHistogram.decode(encoded);
    } catch (error) {
      context.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });
export type EncodedHistogram = z.infer<typeof encodedHistogramSchema>;

export const decodeHistogram = (encoded: EncodedHistogram) => LatencyHistogram.decode(encoded);
export const mergeHistograms = (histograms: Iterable<LatencyHistogram>) => LatencyHistogram.merge(histograms);
