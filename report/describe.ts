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
    'One statistic per cell, in every table and chart: the median over the timed repetitions of the per-repetition value (time per operation, throughput, or wall time), with its 95% percentile-bootstrap interval [lo–hi] (2000 resamples, fixed seed). With few repetitions that interval is wide (with 5 it is close to [min–max]): read it as such.',
    `Ratios are a setup's time relative to ${KERNEL_SETUP} in the same cache state (for throughput workloads, ${KERNEL_SETUP}'s throughput divided by the setup's), so above 1 is slower; their interval bootstraps both sides.`,
    'Latency distributions are drawn from the histograms recorded per operation kind and repetition, merged over the timed repetitions. Repetitions with FUSE tracing on are left out of every timing figure; FUSE request counts and kernel-side request latency come only from them.',
    "CPU and context switches per operation: client from getrusage, daemon from its threads' schedstat, system from /proc/stat deltas of the whole machine (which includes client and daemon).",
    ...(result.measurements.some((measurement) => Number(measurement.params.readers ?? 1) > 1)
      ? [
          "NAME@N cells: the workload issued by N reader processes at once, started together; its operations are split among them by index alone (unit i to reader i mod N, or N consecutive runs for sequential reads), so every N performs the same operations. Throughput is all readers' operations (or bytes) over the longest reader's time from its release to its last operation.",
        ]
      : []),
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

/**
 * Versions of the software a run compared against: packaged libraries and peer daemons recorded
 * in the environment's facts, and any version a setup recorded in its own facts.
 */
export function peerVersions(result: ResultFile): Array<[string, string]> {
  const versions: Array<[string, string]> = [];
  // Packaged libraries and tools the setups run on (Debian package names), npm packages, and any `...version` fact.
  const isVersion = (name: string) =>
    /version|^npm\.|^libfuse|^fuse3$|^erofs-utils$|^erofsfuse$|^squashfuse$|^fio$|^tar$/i.test(name);
  for (const [name, value] of Object.entries(result.environment.facts))
    if (isVersion(name) && value !== null && value !== '') versions.push([name, String(value)]);
  for (const setup of result.setups)
    for (const [name, value] of Object.entries(setup.facts))
      if (/version/i.test(name) && value !== null && value !== '')
        versions.push([`${setup.name}${/^(program)?version$/i.test(name) ? '' : ` ${name}`}`, String(value)]);
  return versions;
}

/** Quotes a shell word when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `fusebench run` command that measures what this result measured, rebuilt from the options
 * the result records (every option spelt out, so that changed defaults cannot change its meaning);
 * the commit it ran at is in the header.
 */
export function reproduceCommand(result: ResultFile): string[] {
  const { config, dataset } = result;
  // A job's external setups and sweep have no flags: the job file (its hash is in the result) says it.
  if (result.job) return ['fusebench', 'run', '--job', result.job.file].map(shellWord);
  const args = ['fusebench', 'run', '--profile', config.profile];
  args.push('--setups', config.setups.join(','), '--workloads', config.workloads.join(','));
  args.push('--cache', config.cacheStates.join(','));
  args.push('--repetitions', String(config.repetitions), '--warmup', String(config.warmupRepetitions));
  args.push('--seed', String(config.seed), '--driver', config.driver);
  const source = result.request?.dataset;
  if (source?.kind === 'rootfs') args.push('--dataset', source.name);
  else if (source?.kind === 'tar') args.push('--dataset-tar', source.path);
  else if (source?.kind === 'image') args.push('--image', source.path);
  else if (dataset.profile !== null) args.push('--dataset', dataset.profile);
  else args.push('--dataset-dir', dataset.sourceDir);
  const image = config.image;
  if (typeof image.compression === 'string' && image.compression !== '')
    args.push('--compression', image.compression);
  if (typeof image.chunkSize === 'number') args.push('--chunk-size', String(image.chunkSize));
  if (typeof image.pclusterSize === 'number') args.push('--pcluster-size', String(image.pclusterSize));
  if (typeof image.extraArgs === 'string')
    for (const arg of image.extraArgs.split(' ').filter(Boolean)) args.push(`--mkfs-arg=${arg}`);
  const fuse = config.fuse;
  if (typeof fuse.transport === 'string') args.push('--transport', fuse.transport);
  if (typeof fuse.entryTimeout === 'number') args.push('--entry-timeout', String(fuse.entryTimeout));
  if (typeof fuse.attrTimeout === 'number') args.push('--attr-timeout', String(fuse.attrTimeout));
  if (fuse.kernelCache === false) args.push('--no-kernel-cache');
  if (fuse.autoCache === true) args.push('--auto-cache');
  if (typeof fuse.maxRead === 'number' && fuse.maxRead > 0) args.push('--max-read', String(fuse.maxRead));
  if (fuse.directIo === true) args.push('--direct-io');
  if (typeof fuse.threads === 'number') args.push('--threads', String(fuse.threads));
  if (fuse.cloneFd === true) args.push('--clone-fd');
  const kernel = result.setups.find((setup) => setup.name === KERNEL_SETUP);
  if (typeof kernel?.facts.backing === 'string' && kernel.facts.backing.startsWith('loop'))
    args.push('--loop-direct-io');
  if (config.pinning.client) args.push('--client-cpus', config.pinning.client);
  if (config.pinning.daemon) args.push('--daemon-cpus', config.pinning.daemon);
  const measured = [...result.measurements, ...result.floor];
  if (result.floor.length === 0 && result.status === 'complete' && measured.length > 0)
    args.push('--no-floor');
  const fuseMeasured = result.measurements.some((m) => m.repetitions.some((r) => r.daemon !== null));
  if (fuseMeasured && !measured.some((m) => m.repetitions.some((r) => r.traced))) args.push('--no-trace');
  return args.map(shellWord);
}

/** Host, CPU and dataset of each result, when they are not all the same: what makes runs incomparable. */
export function mixedRuns(results: readonly ResultFile[]): string[] {
  const differing = (what: string, of: (result: ResultFile) => string) => {
    const values = [...new Set(results.map(of))];
    return values.length > 1 ? [`${what}: ${values.join(' | ')}`] : [];
  };
  return [
    ...differing('hosts', (result) => result.environment.hostname),
    ...differing('CPUs', (result) => `${result.environment.cpuModel} ×${result.environment.cpus}`),
    ...differing(
      'datasets',
      (result) =>
        `${result.dataset.name} ${result.dataset.contentHash.replace(/^(\w+:)?(.{12}).*$/, '$1$2')}`,
    ),
  ];
}
