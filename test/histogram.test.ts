import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../lib/random.js';
import {
  bucketRange,
  decodeHistogram,
  encodedHistogramSchema,
  HistogramEncodingError,
  LatencyHistogram,
  mergeHistograms,
} from '../results/histogram.js';
import { latencySchema } from '../results/schema.js';
import { percentile } from '../results/statistics.js';

/** Latency-shaped samples: a log-normal body around 2 µs and a long tail up to ~10 ms. */
function latencies(count: number, seed: string): number[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
    const tail = random.next() < 0.01 ? 1000 * random.next() : 1;
    return Math.round(2000 * Math.exp(0.5 * normal) * tail);
  });
}

describe('latency histogram', () => {
  it('keeps every percentile within 1/128 of the exact one', () => {
    const values = latencies(20000, 'precision');
    const histogram = LatencyHistogram.of(values);
    assert.equal(histogram.count, values.length);
    for (const q of [0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) {
      const exact = percentile(values, q);
      const approximate = histogram.percentile(q);
      assert.ok(
        Math.abs(approximate - exact) <= exact / 128 + 0.5,
        `q ${q}: histogram ${approximate}, exact ${exact}`,
      );
    }
  });

  it('is exact below 256 ns, where every value has its own bucket', () => {
    const values = Array.from({ length: 1001 }, (_, index) => (index * 37) % 256);
    const histogram = LatencyHistogram.of(values);
    for (const q of [0, 0.1, 0.333, 0.5, 0.77, 1])
      assert.equal(histogram.percentile(q), percentile(values, q));
  });

  it('buckets tile the number line without gaps or overlaps', () => {
    let next = 0;
    for (let index = 0; index < 5000; index++) {
      const { lowestNs, width } = bucketRange(index);
      assert.equal(lowestNs, next, `bucket ${index}`);
      assert.ok(width <= Math.max(1, lowestNs / 128), `bucket ${index} is ${width} wide at ${lowestNs}`);
      // The first and last value of a bucket land in it.
      assert.deepEqual(LatencyHistogram.of([lowestNs, lowestNs + width - 1]).buckets(), [
        { index, count: 2 },
      ]);
      next = lowestNs + width;
    }
  });

  it('gives exact CDF fractions at bucket edges', () => {
    const values = latencies(5000, 'cdf');
    const points = LatencyHistogram.of(values).cdf();
    assert.equal(points.at(-1)!.fraction, 1);
    for (const point of points) {
      const atOrBelow = values.filter((value) => value <= point.valueNs).length;
      assert.equal(point.fraction, atOrBelow / values.length, `at ${point.valueNs} ns`);
    }
  });

  it('round-trips through its encoding and the result schema', () => {
    const values = [...latencies(3000, 'encode'), 0, 2 ** 40, Number.MAX_SAFE_INTEGER];
    const histogram = LatencyHistogram.of(values);
    const encoded = encodedHistogramSchema.parse(JSON.parse(JSON.stringify(histogram.encode())));
    assert.deepEqual(decodeHistogram(encoded).buckets(), histogram.buckets());
    assert.deepEqual(new LatencyHistogram().encode(), { subBucketBits: 7, buckets: '' });
    assert.equal(decodeHistogram({ subBucketBits: 7, buckets: '' }).count, 0);
  });

  it('merges repetitions into the histogram of all their samples', () => {
    const first = latencies(2000, 'first');
    const second = latencies(3000, 'second');
    const merged = mergeHistograms([LatencyHistogram.of(first), LatencyHistogram.of(second)]);
    assert.deepEqual(merged.buckets(), LatencyHistogram.of([...first, ...second]).buckets());
  });

  it('refuses malformed encodings with what is wrong', () => {
    const cases: Array<[string, { subBucketBits: number; buckets: string }, RegExp]> = [
      ['other precision', { subBucketBits: 8, buckets: '' }, /sub-bucket bits 8/],
      ['not base64', { subBucketBits: 7, buckets: 'a*b=' }, /not base64/],
      ['gap without count', { subBucketBits: 7, buckets: Buffer.from([5]).toString('base64') }, /no count/],
      ['zero count', { subBucketBits: 7, buckets: Buffer.from([5, 0]).toString('base64') }, /count 0/],
      [
        'varint cut short',
        { subBucketBits: 7, buckets: Buffer.from([5, 0x80]).toString('base64') },
        /cut short/,
      ],
      [
        'endless varint',
        { subBucketBits: 7, buckets: Buffer.from(new Array(9).fill(0xff)).toString('base64') },
        /longer than 8 bytes/,
      ],
      [
        'bucket past the last',
        { subBucketBits: 7, buckets: Buffer.from([0xff, 0xff, 0x7f, 1]).toString('base64') },
        /beyond the last/,
      ],
    ];
    for (const [name, encoded, message] of cases) {
      assert.throws(
        () => decodeHistogram(encoded as never),
        (error: unknown) => error instanceof HistogramEncodingError && message.test(error.message),
        name,
      );
      assert.equal(encodedHistogramSchema.safeParse(encoded).success, false, name);
    }
  });

  it('a latency record whose histogram disagrees with its count fails the schema', () => {
    const values = latencies(100, 'schema');
    const latency = {
      count: 101,
      minNs: 1,
      maxNs: 2,
      meanNs: 1,
      stddevNs: 0,
      p50Ns: 1,
      p90Ns: 1,
      p99Ns: 1,
      p999Ns: 1,
      histogram: LatencyHistogram.of(values).encode(),
    };
    const parsed = latencySchema.safeParse(latency);
    assert.equal(parsed.success, false);
    assert.match(JSON.stringify(parsed.error?.issues), /holds 100 samples, count is 101/);
    assert.equal(latencySchema.safeParse({ ...latency, count: 100 }).success, true);
  });
});
