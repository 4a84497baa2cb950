import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runFio } from '../bench/measure/clients.js';
import { decodeHistogram } from '../results/histogram.js';
import { latencySchema } from '../results/schema.js';

/**
 * fio as a client: the I/O count it reports is the one asked for (io_size, not only a cap), and
 * the latency histogram rebuilt from its bins holds every I/O, agreeing with fio's percentiles.
 */

describe('fio client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-fio-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('does exactly the I/Os asked for, with a histogram of all of them', async () => {
    // A file smaller than the I/O asked for: --number_ios alone would stop after 256 reads.
    writeFileSync(join(dir, 'data'), Buffer.alloc(1024 * 1024, 1));
    const result = await runFio({
      job: [
        '--filename=data',
        '--rw=randread',
        '--bs=4k',
        `--io_size=${600 * 4096}`,
        '--number_ios=600',
        '--norandommap',
      ],
      cwd: dir,
      workDir: dir,
      cpus: null,
      signal: new AbortController().signal,
      beforeGo: () => {},
      afterDone: () => {},
    });
    assert.equal(result.ios, 600);
    assert.equal(result.bytes, 600 * 4096);
    const latency = latencySchema.parse(result.latency);
    assert.equal(latency.count, 600);
    const histogram = decodeHistogram(latency.histogram!);
    assert.equal(histogram.count, 600);
    // fio's bins are 1/64 of a power of two wide: its p50 and ours agree within that.
    const p50 = histogram.percentile(0.5);
    assert.ok(
      Math.abs(p50 - latency.p50Ns) <= latency.p50Ns / 32,
      `histogram p50 ${p50}, fio ${latency.p50Ns}`,
    );
  });
});
