/**
 * Per-setup stat and 4 KiB read latency, warm and cold (not a test): runs `fusebench run` on the
 * stat-all and randread-4k workloads and prints, from the result file, the median over
 * repetitions of each repetition's p50 and p99.
 * Usage: node dist/bench/micro/setup-latency.js [--dataset tiny|quick] [--repetitions N] [--driver node|native]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { median } from 'simple-statistics';
import { resultFileSchema } from '../../results/schema.js';
import { benchArgs } from './bench-args.js';

const values = benchArgs(import.meta.filename, {
  dataset: { type: 'string', default: 'tiny' },
  repetitions: { type: 'string', default: '5' },
  driver: { type: 'string', default: 'native' },
});
const dir = mkdtempSync(join(tmpdir(), 'fusebench-setup-latency-'));
try {
  const output = join(dir, 'result.json');
  const cli = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
  await execa(
    process.execPath,
    [
      cli,
      'run',
      '--profile',
      'tiny',
      '--dataset',
      values.dataset!,
      '--workloads',
      'stat-all,randread-4k',
      '--repetitions',
      values.repetitions!,
      '--driver',
      values.driver!,
      '--no-trace',
      '--output',
      output,
    ],
    { stdout: 'ignore', stderr: 'inherit' },
  );
  const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
  const us = (ns: number) => `${(ns / 1000).toFixed(1)}`.padStart(8);
  process.stdout.write(`driver ${values.driver}, dataset ${values.dataset}; µs, median over repetitions\n`);
  process.stdout.write(`${'setup'.padEnd(22)}${'cache'.padEnd(6)} stat p50 stat p99 read p50 read p99\n`);
  for (const cache of ['warm', 'cold'] as const) {
    for (const setup of result.setups.map((record) => record.name)) {
      const cell = (workload: string, op: string, key: 'p50Ns' | 'p99Ns') => {
        const measurement = result.measurements.find(
          (entry) => entry.setup === setup && entry.workload === workload && entry.cache === cache,
        );
        const samples = (measurement?.repetitions ?? [])
          .filter((repetition) => !repetition.traced)
          .map((repetition) => repetition.ops[op]?.[key])
          .filter((value): value is number => value !== undefined);
        return samples.length > 0 ? us(median(samples)) : '       -';
      };
      process.stdout.write(
        `${setup.padEnd(22)}${cache.padEnd(6)} ${cell('stat-all', 'lstat', 'p50Ns')} ${cell('stat-all', 'lstat', 'p99Ns')} ${cell('randread-4k', 'pread', 'p50Ns')} ${cell('randread-4k', 'pread', 'p99Ns')}\n`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
