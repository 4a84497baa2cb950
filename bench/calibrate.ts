import { closeSync, lstatSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import type { Fact } from '../fuse/transport.js';
import { percentile } from '../results/statistics.js';
import { isAlive } from '../runners/processes.js';

/**
 * The Node client's own cost, timed in-process with tinybench on tmpfs (/dev/shm), where the
 * filesystem does almost nothing: a clock read (paid once per measured operation) and the
 * cheapest lstat and open+close. Recorded with every run so a reader can subtract them.
 */
const TMPFS_DIR = '/dev/shm';
const PREFIX = 'fusebench-calibrate-';
const TMPFS_FILE = `${TMPFS_DIR}/${PREFIX}${process.pid}`;

/** Files of runs that were killed while calibrating (SIGKILL leaves them on tmpfs). */
function removeStaleFiles(): void {
  for (const name of readdirSync(TMPFS_DIR)) {
    const pid = Number(name.slice(PREFIX.length));
    if (name.startsWith(PREFIX) && Number.isInteger(pid) && !isAlive(pid)) {
      rmSync(`${TMPFS_DIR}/${name}`, { force: true });
    }
  }
}

export async function calibrateNodeClient(): Promise<Record<string, Fact>> {
  removeStaleFiles();
  writeFileSync(TMPFS_FILE, 'x');
  try {
    const bench = new Bench({ time: 200, warmup: true, retainSamples: true });
    bench
      .add('clockReadNs', () => {
        process.hrtime.bigint();
      })
      .add('lstatTmpfsNs', () => {
        lstatSync(TMPFS_FILE);
      })
      .add('openCloseTmpfsNs', () => {
        closeSync(openSync(TMPFS_FILE, 'r'));
      });
    await bench.run();
    const facts: Record<string, Fact> = {};
    for (const task of bench.tasks) {
      const samples = task.result && 'latency' in task.result ? task.result.latency.samples : undefined;
      // tinybench reports milliseconds; the median comes from fusebench's one percentile rule.
      facts[`nodeClient.${task.name}`] =
        samples && samples.length > 0 ? Math.round(percentile([...samples], 0.5) * 1e6) : null;
    }
    return facts;
  } finally {
    rmSync(TMPFS_FILE, { force: true });
  }
}
