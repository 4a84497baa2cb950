import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Handle } from './cleanup.js';
import type { MountedSetup, Setup, SetupContext, SetupKind } from './setup.js';

/**
 * The part every mounting setup shares: a mount point inside the run directory, handles on the
 * cleanup stack, and the remount, written once.
 */
export abstract class MountingSetup implements Setup {
  readonly mountpoint: string;
  protected handles: Handle[] = [];
  private mounted: MountedSetup | null = null;

  constructor(
    readonly name: string,
    readonly kind: SetupKind,
    readonly description: string,
    protected readonly context: SetupContext,
  ) {
    this.mountpoint = join(context.runDir, 'mnt', name);
    mkdirSync(this.mountpoint, { recursive: true });
  }

  /** Mounts and registers what it created on the cleanup stack (push as soon as each thing exists). */
  protected abstract attach(): Promise<MountedSetup>;
  /** Unmounts what attach created. */
  protected abstract detach(): Promise<void>;

  async mount(): Promise<MountedSetup> {
    if (!this.mounted) this.mounted = await this.attach();
    return this.mounted;
  }

  async unmount(): Promise<void> {
    if (!this.mounted) return;
    this.mounted = null;
    await this.detach();
    for (const handle of this.handles.splice(0)) this.context.cleanup.release(handle);
  }

  async remount(): Promise<MountedSetup> {
    await this.unmount();
    return this.mount();
  }
}
