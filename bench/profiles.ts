import type { CacheState } from '../results/schema.js';
import { workloadNames } from '../workloads/catalog.js';

/** Run profiles: which dataset, workloads and how many repetitions a `fusebench run --profile` means. */
export interface RunProfile {
  name: string;
  description: string;
  dataset: string;
  workloads: string[];
  cacheStates: CacheState[];
  repetitions: number;
  warmup: number;
}

export const runProfiles: readonly RunProfile[] = [
  {
    name: 'quick',
    description:
      'the default: representative metadata, read and scenario workloads on the quick dataset, a few minutes',
    dataset: 'quick',
    workloads: [
      'stat-all',
      'lookup-miss',
      'readdir-wide',
      'xattr',
      'seqread-1m',
      'fio-randread-4k',
      'container-start',
      'tar-cat',
    ],
    cacheStates: ['warm', 'cold'],
    repetitions: 5,
    warmup: 1,
  },
  {
    name: 'tiny',
    description: 'a smoke run on the tiny dataset (tests use it): a handful of workloads, 3 repetitions',
    dataset: 'tiny',
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
    workloads: [...workloadNames],
    cacheStates: ['warm', 'cold'],
    repetitions: 10,
    warmup: 2,
  },
];

export function findRunProfile(name: string): RunProfile | undefined {
  return runProfiles.find((profile) => profile.name === name);
}
