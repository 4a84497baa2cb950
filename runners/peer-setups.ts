import { statSync } from 'node:fs';
import type { Fact } from '../fuse/transport.js';
import { findPeerProgram, GET_PEERS, type PeerProgram, supportsIoUring } from '../lib/peer-programs.js';
import { type DaemonCommand, DaemonSetup } from './fuse-daemon.js';
import { probeInit } from './fuse-init-probe.js';
import { enableFuseUring, fuseUringUnavailable, ioUringUse } from './fuse-uring.js';
import type { SetupContext, SetupDefinition } from './setup.js';

/**
 * The reference daemons of the FUSE debate, measured beside ours on the same image and tree:
 * erofs-utils' erofsfuse (the EROFS maintainers' own FUSE reader) and libfuse's example
 * passthrough_hp (the reference passthrough, with kernel passthrough or without), each also over
 * io_uring. They are C programs on libfuse 3: their own cache policies are part of what is
 * measured, and each setup says so in its facts.
 */

type PeerName = 'erofsfuse' | 'fuse-passthrough-hp' | 'fuse-passthrough-hp-nopt';

/** Suffix of the io_uring variant of a setup. */
export const URING_SUFFIX = '+uring';

interface PeerDaemon {
  program: 'erofsfuse' | 'passthrough_hp';
  description: string;
  /** What the daemon itself decides about caching, which fusebench's FUSE options do not reach. */
  caching: string;
  /** The daemon's arguments (without debug), given what it serves and where. */
  args(context: SetupContext, mountpoint: string, ioUring: boolean): string[];
  /** How the daemon serves with fusebench's --threads and --clone-fd, as a fact. */
  threading(context: SetupContext): string;
  /** The flag that turns on libfuse's debug output (and keeps the daemon in the foreground). */
  debugArgs: string[];
  /** File or directory the daemon reads. */
  backing(context: SetupContext): string;
}

/** -o options every peer gets: read-only (the image never changes), and io_uring when asked. */
function fuseOptions(ioUring: boolean): string {
  return ['ro', ...(ioUring ? ['io_uring'] : [])].join(',');
}

/**
 * libfuse's threading, matched to ours: its single-threaded loop for one thread, else its
 * multithreaded loop, which starts a worker whenever none is idle (up to max_threads) and never
 * ends one; with --clone-fd each worker reads its own clone of the /dev/fuse descriptor.
 */
function libfuseLoop(context: SetupContext, cap: string): string {
  if (context.fuse.threads === 1) return "libfuse's single-threaded loop: one thread";
  return `libfuse's multithreaded loop: workers started on demand, ${cap}, never ended; ${context.fuse.cloneFd ? 'each on its own clone of the /dev/fuse descriptor (clone_fd)' : "all on the session's one /dev/fuse descriptor"}`;
}

/**
 * erofsfuse 1.9.4 hands libfuse only clone_fd and max_idle_threads: -o max_threads is parsed and
 * dropped (measured: max_threads=2 grew to 5 threads), so libfuse's own cap of 10 applies.
 */
const erofsfuseThreading = {
  args: (context: SetupContext): string[] =>
    context.fuse.threads === 1 ? ['-s'] : context.fuse.cloneFd ? ['-o', 'clone_fd'] : [],
  describe: (context: SetupContext): string =>
    libfuseLoop(
      context,
      `up to libfuse's default 10 (erofsfuse 1.9.4 drops -o max_threads, so --threads ${context.fuse.threads} cannot cap them)`,
    ),
};

const passthroughHpThreading = {
  args: (context: SetupContext): string[] =>
    context.fuse.threads === 1
      ? ['--single']
      : ['--num-threads', String(context.fuse.threads), ...(context.fuse.cloneFd ? ['--clone-fd'] : [])],
  describe: (context: SetupContext): string =>
    libfuseLoop(context, `up to ${context.fuse.threads} (--num-threads) beside the main thread`),
};

function passthroughHp(kernelPassthrough: boolean): PeerDaemon {
  return {
    program: 'passthrough_hp',
    description: kernelPassthrough
      ? "libfuse's passthrough_hp (C) over the source tree, file data by kernel passthrough (FOPEN_PASSTHROUGH)"
      : "libfuse's passthrough_hp (C) over the source tree, file data through the daemon (--nopassthrough)",
    caching:
      'passthrough_hp decides its own: entry/attr timeout 86400 s and keep_cache, or 0 and no keep_cache with --nocache (given when --entry-timeout and --attr-timeout are 0); splice on',
    args: (context, mountpoint, ioUring) => [
      '--foreground',
      ...passthroughHpThreading.args(context),
      ...(context.fuse.entryTimeout === 0 && context.fuse.attrTimeout === 0 ? ['--nocache'] : []),
      ...(kernelPassthrough ? [] : ['--nopassthrough']),
      ...(context.fuse.directIo ? ['--direct-io'] : []),
      '-o',
      fuseOptions(ioUring),
      context.dataset.sourceDir,
      mountpoint,
    ],
    threading: passthroughHpThreading.describe,
    debugArgs: ['--debug-fuse'],
    backing: (context) => context.dataset.sourceDir,
  };
}

const peers: Record<PeerName, PeerDaemon> = {
  erofsfuse: {
    program: 'erofsfuse',
    description: "erofs-utils' erofsfuse (libfuse 3, C) serving the same image",
    caching:
      'erofsfuse decides its own: entry/attr timeout DBL_MAX, keep_cache and cache_readdir on every open (fusebench --entry-timeout, --attr-timeout, --no-kernel-cache do not apply)',
    args: (context, mountpoint, ioUring) => [
      '-f',
      ...erofsfuseThreading.args(context),
      '-o',
      fuseOptions(ioUring),
      context.dataset.image.path,
      mountpoint,
    ],
    threading: erofsfuseThreading.describe,
    debugArgs: ['-d'],
    backing: (context) => context.dataset.image.path,
  },
  'fuse-passthrough-hp': passthroughHp(true),
  'fuse-passthrough-hp-nopt': passthroughHp(false),
};

class PeerDaemonSetup extends DaemonSetup {
  private initFacts: Record<string, Fact> | null = null;
  private uringFacts: Record<string, Fact> | null = null;

  constructor(
    name: string,
    description: string,
    context: SetupContext,
    private readonly peer: PeerDaemon,
    private readonly ioUring: boolean,
  ) {
    super(name, 'fuse', description, context);
  }

  protected async command(): Promise<DaemonCommand> {
    const program = await findPeerProgram(this.peer.program);
    if (!program) throw new Error(`${this.peer.program} is not installed: ${GET_PEERS}`);
    // The parameter stays on for the rest of the run: what it was before is said once.
    if (this.ioUring) {
      const previous = enableFuseUring(this.context.cleanup);
      this.uringFacts ??= {
        fuseEnableUring: previous === 'Y' ? 'Y (was on)' : `Y (was ${previous}; restored after the run)`,
      };
    }
    // Once per setup, before its first measured mount: remounts run the same program and options.
    const probeMountpoint = `${this.mountpoint}.init-probe`;
    this.initFacts ??= await probeInit(
      {
        file: program.path,
        args: [...this.peer.debugArgs, ...this.peer.args(this.context, probeMountpoint, this.ioUring)],
        mountpoint: probeMountpoint,
      },
      this.context.cleanup,
    ).catch((error: unknown) => ({ 'init.probe': `failed: ${(error as Error).message}` }));
    return {
      file: program.path,
      args: this.peer.args(this.context, this.mountpoint, this.ioUring),
      factsFile: null,
      label: `${this.peer.program} ${program.version}`,
      backing: this.peer.backing(this.context),
      facts: {
        ...programFacts(program),
        caching: this.peer.caching,
        threads: this.context.fuse.threads,
        threading: this.peer.threading(this.context),
        // The reference programs run as they ship: as root, for the whole session.
        privileges: 'root (as the program ships: it keeps root while serving)',
        ...this.uringFacts,
        ...this.initFacts,
      },
    };
  }

  /** The io_uring variant must really serve from rings: libfuse falls back to /dev/fuse reads silently. */
  protected override async checkServing(pid: number): Promise<Record<string, Fact>> {
    // The mount shows before INIT is answered; a stat waits for the answer, and libfuse sets up
    // its rings before it answers.
    statSync(this.mountpoint);
    const use = ioUringUse(pid);
    if (this.ioUring && use.rings === 0)
      throw new Error(
        `${this.peer.program} holds no io_uring ring: the kernel or its libfuse did not agree to FUSE over io_uring`,
      );
    return { ioUringRings: use.rings };
  }
}

function programFacts(program: PeerProgram): Record<string, Fact> {
  return {
    program: program.path,
    programVersion: program.version,
    programOrigin: program.origin,
    libfuseVersion: program.libfuseVersion,
  };
}

function peerDefinition(name: PeerName, ioUring: boolean): SetupDefinition {
  const peer = peers[name];
  const setupName = ioUring ? `${name}${URING_SUFFIX}` : name;
  const description = ioUring ? `${peer.description}, over io_uring` : peer.description;
  return {
    name: setupName,
    kind: 'fuse',
    description,
    async unavailable() {
      const program = await findPeerProgram(peer.program);
      if (!program) return `${peer.program} is not installed: ${GET_PEERS}`;
      if (!ioUring) return null;
      const kernel = fuseUringUnavailable();
      if (kernel) return kernel;
      return (await supportsIoUring(program))
        ? null
        : `${peer.program} ${program.version} uses a libfuse without io_uring (3.18+ needed): ${GET_PEERS}`;
    },
    create: (context) => new PeerDaemonSetup(setupName, description, context, peer, ioUring),
  };
}

export const erofsfuse = peerDefinition('erofsfuse', false);
export const erofsfuseUring = peerDefinition('erofsfuse', true);
export const fusePassthroughHp = peerDefinition('fuse-passthrough-hp', false);
export const fusePassthroughHpUring = peerDefinition('fuse-passthrough-hp', true);
export const fusePassthroughHpNopt = peerDefinition('fuse-passthrough-hp-nopt', false);
export const fusePassthroughHpNoptUring = peerDefinition('fuse-passthrough-hp-nopt', true);

/** Every peer setup, each followed by its io_uring variant. */
export const peerSetupDefinitions: readonly SetupDefinition[] = [
  erofsfuse,
  erofsfuseUring,
  fusePassthroughHp,
  fusePassthroughHpUring,
  fusePassthroughHpNopt,
  fusePassthroughHpNoptUring,
];
