import type { PreparedDataset } from '../datasets/dataset.js';
import { defaultTransportOptions, type Fact, type TransportOptions } from '../fuse/transport.js';
import type { CleanupStack } from './cleanup.js';

/**
 * A setup serves the dataset at a mount point in one of the ways fusebench compares. Setups
 * know how to mount, unmount and make caches cold; they know nothing of workloads or of what
 * is measured. The measurement side gets only a mount point, the pids to account and facts.
 */

export type SetupKind = 'kernel' | 'fuse' | 'floor';

/** What every setup of a run shares. */
export interface SetupContext {
  dataset: PreparedDataset;
  /** The run's own directory: mount points live here, never over a user path. */
  runDir: string;
  cleanup: CleanupStack;
  fuse: TransportOptions;
  fuseTransport: string;
  /** Mount the kernel EROFS setup through a loop device with direct I/O instead of file-backed. */
  loopDirectIo: boolean;
  /** CPU list for FUSE daemons (taskset -c), or null. */
  daemonCpus: string | null;
}

/** fusebench's default FUSE options and no pinning: what mounts setups outside a run (doctor, tests) use. */
export function defaultSetupContext(
  dataset: PreparedDataset,
  runDir: string,
  cleanup: CleanupStack,
): SetupContext {
  return {
    dataset,
    runDir,
    cleanup,
    fuse: defaultTransportOptions,
    fuseTransport: 'devfuse',
    loopDirectIo: false,
    daemonCpus: null,
  };
}

export interface MountedSetup {
  mountpoint: string;
  /** Processes whose CPU time and context switches are the setup's own cost (FUSE daemons). */
  daemonPids: number[];
  facts: Record<string, Fact>;
}

export interface Setup {
  readonly name: string;
  readonly kind: SetupKind;
  readonly description: string;
  mount(): Promise<MountedSetup>;
  /**
   * Unmounts and mounts again, with a new daemon: nothing the setup itself caches (a daemon's
   * caches, the mount's inodes) survives. Kernel caches are dropped separately, right before
   * the repetition that must find them cold.
   */
  remount(): Promise<MountedSetup>;
  unmount(): Promise<void>;
}

export interface SetupDefinition {
  name: string;
  kind: SetupKind;
  description: string;
  /** Why the setup cannot run on this machine, or null when it can. */
  unavailable(context: SetupContext): Promise<string | null>;
  create(context: SetupContext): Setup;
}
