import type { ResultFile } from '../results/schema.js';
import { FLOOR_SETUP, KERNEL_SETUP } from './model.js';
import { formatBytes } from './units.js';

/**
 * The environment and the method of a run in plain words, for every output: a reader on a
 * mailing list must be able to judge the numbers without opening the JSON.
 */

const facts = (record: Record<string, unknown>) =>
  Object.entries(record)
    .filter(([, value]) => value !== null && value !== '')
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(', ');

/** Label and text pairs describing the machine, the dataset and the options. */
export function environmentFields(result: ResultFile): Array<[string, string]> {
  const { environment: env, dataset, config } = result;
  const cpu = [
    `${env.cpuModel}, ${env.cpus} CPUs`,
    env.smt ? `SMT ${env.smt}` : null,
    env.governor ? `governor ${env.governor}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const source =
    dataset.profile !== null ? `profile ${dataset.profile}, seed ${dataset.seed}` : dataset.sourceDir;
  const pinning =
    config.pinning.client || config.pinning.daemon
      ? `client CPUs ${config.pinning.client ?? 'any'}, daemon CPUs ${config.pinning.daemon ?? 'any'}`
      : 'none';
  return [
    ['run', `${result.runId} (${result.status}), started ${result.startedAt}`],
    ['kernel', `${env.kernelRelease} ${env.kernelVersion}`],
    ['preempt', env.preemptModel ?? 'unknown'],
    ['cpu', cpu],
    ['memory', `${formatBytes(env.memoryBytes)}, THP ${env.thp ?? 'unknown'}`],
    [
      'software',
      `fusebench ${env.fusebenchVersion}${env.gitCommit ? ` (${env.gitCommit.slice(0, 12)})` : ''}, node ${env.nodeVersion}, mkfs.erofs ${env.mkfsErofsVersion ?? 'unknown'}`,
    ],
    [
      'dataset',
      `${dataset.name} (${source}): ${dataset.files} files, ${dataset.dirs} dirs, ${dataset.symlinks} symlinks, ${formatBytes(dataset.bytes)}; hash ${dataset.contentHash.replace(/^(\w+:)?(.{12}).*$/, '$1$2')}`,
    ],
    [
      'image',
      `${formatBytes(dataset.image.bytes)}, ${dataset.image.mkfsVersion}, ${dataset.image.mkfsArgs.join(' ') || 'default options'}`,
    ],
    ['fuse', facts(config.fuse) || 'defaults'],
    ['driver', `${config.driver}; pinning ${pinning}`],
  ];
}

/** How the figures were made, in plain words. */
export function methodText(result: ResultFile): string[] {
  const { config } = result;
  const floor = result.floor.length > 0;
  return [
    `Every setup serves the same EROFS image (or a copy of the same tree) and runs the same op streams. ${config.repetitions} timed repetitions per setup, workload and cache state (after ${config.warmupRepetitions} warm-up repetitions for the warm cache), the setup order shuffled every round so machine drift spreads over all setups.`,
    'Cold cache: every setup is remounted (a new daemon) at the start of each round, and page, dentry and inode caches are dropped right before every repetition. Warm cache: the same repetitions after warm-up, page and dentry caches kept.',
    'Figures are medians over repetitions of the per-repetition value (time per operation, throughput, or wall time). The ± figure is half the width of a 95% percentile-bootstrap interval of the median (2000 resamples, fixed seed).',
    `Ratios are a setup's time relative to ${KERNEL_SETUP} in the same cache state (for throughput workloads, ${KERNEL_SETUP}'s throughput divided by the setup's), so above 1 is slower; their interval bootstraps both sides.`,
    "Latency bars show the median over repetitions of the p50 of the workload's dominant operation, the whisker its p99. Repetitions with FUSE tracing on are left out of every timing figure; FUSE request counts and kernel-side request latency come only from them.",
    "CPU and context switches per operation: client from getrusage, daemon from its threads' schedstat, system from /proc/stat deltas of the whole machine (which includes client and daemon).",
    floor
      ? `The ${FLOOR_SETUP} runs the same op streams against a tmpfs copy, warm: the cost of the client itself. A figure within 2× of the floor mostly measures the client.`
      : 'No floor was measured in this run.',
  ];
}

/** Fields of two runs' environments and options that differ, as "name: a → b". */
export function environmentDifferences(base: ResultFile, next: ResultFile): string[] {
  const pairs: Array<[string, unknown, unknown]> = [
    ['kernel', base.environment.kernelRelease, next.environment.kernelRelease],
    ['kernel build', base.environment.kernelVersion, next.environment.kernelVersion],
    ['preempt', base.environment.preemptModel, next.environment.preemptModel],
    ['cpu', base.environment.cpuModel, next.environment.cpuModel],
    ['cpus', base.environment.cpus, next.environment.cpus],
    ['governor', base.environment.governor, next.environment.governor],
    ['smt', base.environment.smt, next.environment.smt],
    ['memory', base.environment.memoryBytes, next.environment.memoryBytes],
    ['thp', base.environment.thp, next.environment.thp],
    ['dataset hash', base.dataset.contentHash, next.dataset.contentHash],
    ['image options', facts(base.config.image), facts(next.config.image)],
    ['mkfs args', base.dataset.image.mkfsArgs.join(' '), next.dataset.image.mkfsArgs.join(' ')],
    ['fuse options', facts(base.config.fuse), facts(next.config.fuse)],
    ['driver', base.config.driver, next.config.driver],
    ['pinning', JSON.stringify(base.config.pinning), JSON.stringify(next.config.pinning)],
  ];
  return pairs
    .filter(([, a, b]) => String(a) !== String(b))
    .map(([name, a, b]) => `${name}: ${String(a)} → ${String(b)}`);
}
