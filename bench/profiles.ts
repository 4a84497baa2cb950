import type { CacheState } from '../results/schema.js';
import { coreSetupNames } from '../runners/registry.js';
import { workloadNames, workloadsAtReaders } from '../workloads/catalog.js';

/** Run profiles: which dataset, workloads and how many repetitions a `fusebench run --profile` means. */
export interface RunProfile {
  name: string;
  description: string;
  dataset: string;
  /** Setups measured unless --setups names others. */
  setups: readonly string[];
  workloads: string[];
  cacheStates: CacheState[];
  repetitions: number;
  warmup: number;
}

/** The full profile's scaling curve: these workloads at each reader count (the rest at 1). */
const FULL_SCALING_WORKLOADS = ['stat-all', 'open-close', 'randread-4k', 'parallel-read', 'fio-randread-4k'];
const FULL_READERS = [1, 2, 4, 8, 16];

export const runProfiles: readonly RunProfile[] = [
  {
    name: 'quick',
    description:
      'the default: representative metadata, read and scenario workloads on the quick dataset, a few minutes',
    dataset: 'quick',
    // The headline comparison (the kernel, erofsfuse and ours on one image) and the tree itself.
    // fuse-passthrough-ts (our transport over the tree) is the slowest setup to run: a second Node
    // daemon restarted every cold round, and its own traced repetitions; the full profile keeps it.
    setups: ['kernel-erofs', 'erofsfuse', 'fuse-erofs-ts', 'native'],
    workloads: [
      'stat-all',
      'lookup-miss',
      'readdir-wide',
      'xattr',
      'seqread-1m',
      'fio-randread-4k',
      'container-start',
      'tar-cat',
      // The one concurrent cell: 4 reader processes sharing the large files.
      'parallel-read@4',
    ],
    cacheStates: ['warm', 'cold'],
    repetitions: 5,
    warmup: 1,
  },
  {
    name: 'tiny',
    description: 'a smoke run on the tiny dataset (tests use it): a handful of workloads, 3 repetitions',
    dataset: 'tiny',
    setups: coreSetupNames,
    workloads: [
      'stat-all',
      'lookup-miss',
      'readdir-wide',
      'open-close',
      'seqread-128k',
      'randread-4k',
      'read-small',
      'xargs-cat-7pct',
    ],
    cacheStates: ['warm', 'cold'],
    repetitions: 3,
    warmup: 1,
  },
  {
    name: 'full',
    description: 'every workload on the container dataset, 10 repetitions: for numbers to publish',
    dataset: 'container',
    setups: coreSetupNames,
    workloads: [...new Set([...workloadNames, ...workloadsAtReaders(FULL_SCALING_WORKLOADS, FULL_READERS)])],
    cacheStates: ['warm', 'cold'],
    repetitions: 10,
    warmup: 2,
  },
];

export function findRunProfile(name: string): RunProfile | undefined {
  return runProfiles.find((profile) => profile.name === name);
}
