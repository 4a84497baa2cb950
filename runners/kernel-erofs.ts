import { attachLoop, detachLoop } from '../lib/loop-devices.js';
import { kernelHasFilesystem, mountErofs, unmount } from '../lib/mounts.js';
import { backingDeviceFacts, mountFacts } from './facts.js';
import { MountingSetup } from './mounted-setup.js';
import type { MountedSetup, SetupContext, SetupDefinition } from './setup.js';

/** The in-kernel EROFS driver: the baseline every ratio is taken against. */
class KernelErofs extends MountingSetup {
  private loopDevice: string | null = null;

  protected async attach(): Promise<MountedSetup> {
    const { image } = this.context.dataset;
    const { cleanup, loopDirectIo } = this.context;
    let source = image.path;
    if (loopDirectIo) {
      this.loopDevice = await attachLoop(image.path, { directIo: true });
      this.handles.push(cleanup.push({ kind: 'loop', device: this.loopDevice, backingFile: image.path }));
      source = this.loopDevice;
    }
    mountErofs(source, this.mountpoint);
    this.handles.push(cleanup.push({ kind: 'mount', path: this.mountpoint }));
    return {
      mountpoint: this.mountpoint,
      daemonPids: [],
      facts: {
        backing: loopDirectIo ? 'loop device, direct I/O' : 'file-backed (no loop device)',
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

export const kernelErofs: SetupDefinition = {
  name: 'kernel-erofs',
  kind: 'kernel',
  description: 'the kernel EROFS driver mounting the image',
  async unavailable() {
    return kernelHasFilesystem('erofs') ? null : 'the kernel has no erofs filesystem (modprobe erofs)';
  },
  create: (context: SetupContext) =>
    new KernelErofs('kernel-erofs', 'kernel', kernelErofs.description, context),
};
