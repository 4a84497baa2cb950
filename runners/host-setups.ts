import { execa } from 'execa';
import { buildSquashfsImage } from '../datasets/image.js';
import { attachLoop, detachLoop } from '../lib/loop-devices.js';
import { kernelHasFilesystem, readMountInfo, unmount } from '../lib/mounts.js';
import { MountFlags, syscalls } from '../lib/syscalls.js';
import { backingDeviceFacts, mountFacts } from './facts.js';
import { MountingSetup } from './mounted-setup.js';
import type { MountedSetup, Setup, SetupContext, SetupDefinition } from './setup.js';

/** Setups without FUSE besides kernel EROFS: the native tree, kernel squashfs, and the tmpfs floor. */

/** The source tree itself on the host filesystem: what FUSE passthrough adds overhead to. */
class NativeTree implements Setup {
  readonly name = 'native';
  readonly kind = 'kernel';
  readonly description = native.description;

  constructor(private readonly context: SetupContext) {}

  async mount(): Promise<MountedSetup> {
    const { sourceDir } = this.context.dataset;
    return {
      mountpoint: sourceDir,
      daemonPids: [],
      facts: { ...mountFacts(findMountOf(sourceDir)), ...backingDeviceFacts(sourceDir) },
    };
  }

  /** The host filesystem cannot be remounted under us; dropping the kernel caches is all cold can mean here. */
  async remount(): Promise<MountedSetup> {
    return this.mount();
  }

  async unmount(): Promise<void> {}
}

/** The mount point of the filesystem holding `path` (longest matching mountinfo entry). */
function findMountOf(path: string): string {
  return (
    readMountInfo()
      .map((entry) => entry.mountpoint)
      .filter(
        (mountpoint) => path === mountpoint || path.startsWith(mountpoint === '/' ? '/' : `${mountpoint}/`),
      )
      .sort((a, b) => b.length - a.length)[0] ?? '/'
  );
}

export const native: SetupDefinition = {
  name: 'native',
  kind: 'kernel',
  description: 'the source tree on the host filesystem, no FUSE',
  unavailable: async () => null,
  create: (context) => new NativeTree(context),
};

class KernelSquashfs extends MountingSetup {
  private loopDevice: string | null = null;

  protected async attach(): Promise<MountedSetup> {
    const { dataset, cleanup } = this.context;
    const compressed = dataset.image.args.some((arg) => arg.startsWith('-z'));
    const image = await buildSquashfsImage(
      dataset.sourceDir,
      dataset.manifest.contentHash,
      compressed,
      dataset.cacheDir,
    );
    this.loopDevice = await attachLoop(image.path, { directIo: this.context.loopDirectIo });
    this.handles.push(cleanup.push({ kind: 'loop', device: this.loopDevice, backingFile: image.path }));
    syscalls.mount(this.loopDevice, this.mountpoint, 'squashfs', MountFlags.MS_RDONLY, '');
    this.handles.push(cleanup.push({ kind: 'mount', path: this.mountpoint }));
    return {
      mountpoint: this.mountpoint,
      daemonPids: [],
      facts: {
        image: `mksquashfs ${image.args.join(' ')}`,
        loopDevice: this.loopDevice,
        ...mountFacts(this.mountpoint),
        ...backingDeviceFacts(image.path),
      },
    };
  }

  protected async detach(): Promise<void> {
    await unmount(this.mountpoint);
    if (this.loopDevice) await detachLoop(this.loopDevice);
    this.loopDevice = null;
  }
}

export const squashfs: SetupDefinition = {
  name: 'squashfs',
  kind: 'kernel',
  description: 'the kernel squashfs driver on a loop device, same tree: an in-kernel reference',
  unavailable: async () => {
    if (!kernelHasFilesystem('squashfs')) return 'the kernel has no squashfs filesystem';
    return (await execa('which', ['mksquashfs'], { reject: false })).exitCode === 0
      ? null
      : 'mksquashfs is not installed (apt-get install squashfs-tools)';
  },
  create: (context) => new KernelSquashfs('squashfs', 'kernel', squashfs.description, context),
};

/**
 * The measurement floor: the tree copied into tmpfs, always warm. Its figures are what the
 * driver (client process, system calls, VFS) costs with almost no filesystem work behind it.
 */
class TmpfsFloor extends MountingSetup {
  protected async attach(): Promise<MountedSetup> {
    const { dataset, cleanup } = this.context;
    const size = Math.ceil((dataset.manifest.bytes * 1.2 + 64 * 1024 * 1024) / 4096) * 4096;
    syscalls.mount(
      'fusebench-floor',
      this.mountpoint,
      'tmpfs',
      MountFlags.MS_NOSUID | MountFlags.MS_NODEV,
      `size=${size},mode=755`,
    );
    this.handles.push(cleanup.push({ kind: 'mount', path: this.mountpoint }));
    await execa('cp', ['-a', '--', `${dataset.sourceDir}/.`, this.mountpoint]);
    syscalls.mount(
      'none',
      this.mountpoint,
      '',
      MountFlags.MS_REMOUNT | MountFlags.MS_RDONLY | MountFlags.MS_NOSUID | MountFlags.MS_NODEV,
      '',
    );
    return { mountpoint: this.mountpoint, daemonPids: [], facts: { ...mountFacts(this.mountpoint) } };
  }

  protected async detach(): Promise<void> {
    await unmount(this.mountpoint);
  }
}

export const floor: SetupDefinition = {
  name: 'floor',
  kind: 'floor',
  description: 'the tree in tmpfs, warm: the cost of the client and the VFS alone',
  unavailable: async () => null,
  create: (context) => new TmpfsFloor('floor', 'floor', floor.description, context),
};
