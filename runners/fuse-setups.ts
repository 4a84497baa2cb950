import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildSquashfsImage } from '../datasets/image.js';
import { writeDaemonRequest } from '../fuse/daemon-request.js';
import type { Fact } from '../fuse/transport.js';
import { type DaemonCommand, DaemonSetup, factsFileOf, fusebenchCli } from './fuse-daemon.js';
import { enableFuseUring, fuseUringUnavailable } from './fuse-uring.js';
import { URING_SUFFIX } from './peer-setups.js';
import type { SetupContext, SetupDefinition } from './setup.js';

/** The FUSE setups: fusebench's own daemons over the image or the tree, and squashfuse (the peers are in peer-setups.ts). */

/** Our transport that serves from io_uring rings. */
const URING_TRANSPORT = 'devfuse-uring';

class FusebenchDaemon extends DaemonSetup {
  constructor(
    name: string,
    description: string,
    context: SetupContext,
    private readonly subcommand: 'mount' | 'passthrough',
    private readonly kernelPassthrough: boolean,
    /** A transport of its own, or null for the run's --transport. */
    private readonly ownTransport: string | null = null,
  ) {
    super(name, 'fuse', description, context);
  }

  private get transport(): string {
    return this.kernelPassthrough ? 'devfuse' : (this.ownTransport ?? this.context.fuseTransport);
  }

  protected async command(): Promise<DaemonCommand> {
    const { dataset, fuse, runDir } = this.context;
    const source = this.subcommand === 'mount' ? dataset.image.path : dataset.sourceDir;
    const factsFile = factsFileOf(runDir, this.name);
    const transport = this.transport;
    // Only a mount made while enable_uring is on can use rings; the journal puts the old value back.
    if (transport === URING_TRANSPORT) enableFuseUring(this.context.cleanup);
    const requestFile = join(runDir, `${this.name}.request.json`);
    writeDaemonRequest(requestFile, {
      backend: { kind: this.subcommand === 'mount' ? 'erofs' : 'passthrough', source },
      mountpoint: this.mountpoint,
      transport,
      options: { ...fuse, kernelPassthrough: this.kernelPassthrough },
      factsFile,
    });
    const [node, cli] = fusebenchCli as [string, string];
    return {
      file: node,
      args: [cli, this.subcommand, '--request', requestFile],
      factsFile,
      label: `fusebench ${this.subcommand} (${transport})`,
      backing: source,
    };
  }

  /** Over io_uring the daemon must really serve from rings: it falls back to /dev/fuse when refused. */
  protected override async checkServing(): Promise<Record<string, Fact>> {
    if (this.transport !== URING_TRANSPORT) return {};
    const facts = JSON.parse(readFileSync(factsFileOf(this.context.runDir, this.name), 'utf8')) as {
      requestChannel?: string;
      ioUringRefused?: string;
    };
    if (!facts.requestChannel?.startsWith('io_uring'))
      throw new Error(
        `${URING_TRANSPORT} is not serving from rings: ${facts.ioUringRefused ?? facts.requestChannel}`,
      );
    return {};
  }
}

/** An external FUSE daemon in the foreground, given the same cache timeouts as ours where it takes them. */
class ExternalDaemon extends DaemonSetup {
  constructor(
    name: string,
    description: string,
    context: SetupContext,
    private readonly build: (setup: ExternalDaemon) => Promise<DaemonCommand>,
  ) {
    super(name, 'fuse', description, context);
  }

  protected command(): Promise<DaemonCommand> {
    return this.build(this);
  }
}

async function hasCommand(command: string): Promise<boolean> {
  return (await execa('which', [command], { reject: false })).exitCode === 0;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [kernelMajor = 0, kernelMinor = 0] = release()
    .split('.')
    .map((part) => Number.parseInt(part, 10));
  return kernelMajor > major || (kernelMajor === major && kernelMinor >= minor);
}

export const fuseErofsTs: SetupDefinition = {
  name: 'fuse-erofs-ts',
  kind: 'fuse',
  description: "fusebench's TypeScript EROFS reader serving the image over FUSE",
  unavailable: async () => null,
  create: (context) => new FusebenchDaemon('fuse-erofs-ts', fuseErofsTs.description, context, 'mount', false),
};

/** Ours over libfuse 2 (the fuse-native package): its cost beside our own /dev/fuse transport. */
export const fuseErofsTsLibfuse2: SetupDefinition = {
  name: 'fuse-erofs-ts-libfuse2',
  kind: 'fuse',
  description: "fusebench's TypeScript EROFS reader served through libfuse 2 (the fuse-native package)",
  unavailable: async () => null,
  create: (context) =>
    new FusebenchDaemon(
      'fuse-erofs-ts-libfuse2',
      fuseErofsTsLibfuse2.description,
      context,
      'mount',
      false,
      'fuse-native',
    ),
};

function uringUnavailable(): Promise<string | null> {
  return Promise.resolve(fuseUringUnavailable());
}

/** Ours over FUSE io_uring rings (--fuse-io-uring adds it beside fuse-erofs-ts). */
export const fuseErofsTsUring: SetupDefinition = {
  name: `fuse-erofs-ts${URING_SUFFIX}`,
  kind: 'fuse',
  description: "fusebench's TypeScript EROFS reader served from FUSE io_uring rings (devfuse-uring)",
  unavailable: uringUnavailable,
  create: (context) =>
    new FusebenchDaemon(
      fuseErofsTsUring.name,
      fuseErofsTsUring.description,
      context,
      'mount',
      false,
      URING_TRANSPORT,
    ),
};

export const fusePassthroughTsUring: SetupDefinition = {
  name: `fuse-passthrough-ts${URING_SUFFIX}`,
  kind: 'fuse',
  description: 'the TypeScript FUSE passthrough of the source tree served from FUSE io_uring rings',
  unavailable: uringUnavailable,
  create: (context) =>
    new FusebenchDaemon(
      fusePassthroughTsUring.name,
      fusePassthroughTsUring.description,
      context,
      'passthrough',
      false,
      URING_TRANSPORT,
    ),
};

export const fusePassthroughTs: SetupDefinition = {
  name: 'fuse-passthrough-ts',
  kind: 'fuse',
  description: 'a TypeScript FUSE passthrough of the source tree on the host filesystem',
  unavailable: async () => null,
  create: (context) =>
    new FusebenchDaemon('fuse-passthrough-ts', fusePassthroughTs.description, context, 'passthrough', false),
};

export const fusePassthroughKernel: SetupDefinition = {
  name: 'fuse-passthrough-kernel',
  kind: 'fuse',
  description:
    'the TypeScript passthrough over /dev/fuse with kernel FUSE passthrough (FOPEN_PASSTHROUGH) for file data',
  unavailable: async () =>
    kernelAtLeast(6, 9) ? null : `FUSE passthrough needs Linux 6.9 or later (this is ${release()})`,
  create: (context) =>
    new FusebenchDaemon(
      'fuse-passthrough-kernel',
      fusePassthroughKernel.description,
      context,
      'passthrough',
      true,
    ),
};

function fuseTimeoutOptions(context: SetupContext): string {
  const { entryTimeout, attrTimeout, kernelCache } = context.fuse;
  return [
    `ro`,
    `entry_timeout=${entryTimeout}`,
    `attr_timeout=${attrTimeout}`,
    ...(kernelCache ? ['kernel_cache'] : []),
  ].join(',');
}

export const squashfuse: SetupDefinition = {
  name: 'squashfuse',
  kind: 'fuse',
  description:
    'squashfuse (libfuse, C) serving a squashfs image of the same tree: an external FUSE reference',
  unavailable: async () =>
    (await hasCommand('squashfuse')) ? null : 'squashfuse is not installed (apt-get install squashfuse)',
  create: (context) =>
    new ExternalDaemon('squashfuse', squashfuse.description, context, async (setup) => {
      const { dataset } = context;
      const image = await buildSquashfsImage(
        dataset.sourceDir,
        dataset.manifest.contentHash,
        dataset.image.args.some((arg) => arg.startsWith('-z')),
        dataset.cacheDir,
      );
      return {
        file: 'squashfuse',
        args: ['-f', '-o', fuseTimeoutOptions(context), image.path, setup.mountpoint],
        factsFile: null,
        label: `squashfuse (${image.args.join(' ')})`,
        backing: image.path,
      };
    }),
};
