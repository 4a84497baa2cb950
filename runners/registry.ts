import { type ExternalSetupSpec, externalSetupDefinition } from './external-setups.js';
import {
  fuseErofsTs,
  fuseErofsTsLibfuse2,
  fuseErofsTsUring,
  fusePassthroughKernel,
  fusePassthroughTs,
  fusePassthroughTsUring,
  squashfuse,
} from './fuse-setups.js';
import { floor, native, squashfs } from './host-setups.js';
import { kernelErofs } from './kernel-erofs.js';
import { peerSetupDefinitions, URING_SUFFIX } from './peer-setups.js';
import type { SetupDefinition } from './setup.js';

/** Every setup fusebench can measure, in the order results list them; the floor is run separately. */
export const setupDefinitions: readonly SetupDefinition[] = [
  kernelErofs,
  fuseErofsTs,
  fuseErofsTsUring,
  fuseErofsTsLibfuse2,
  fusePassthroughTs,
  fusePassthroughTsUring,
  native,
  fusePassthroughKernel,
  ...peerSetupDefinitions,
  squashfuse,
  squashfs,
];

export const setupNames = setupDefinitions.map((definition) => definition.name);

/**
 * What `fusebench run` measures unless told otherwise: the kernel, the EROFS maintainers' FUSE
 * reader, ours over the image and the tree, and the tree itself. A default setup that cannot run
 * here is skipped with a note; one named with --setups that cannot run fails the run.
 */
export const coreSetupNames = [
  'kernel-erofs',
  'erofsfuse',
  'fuse-erofs-ts',
  'fuse-passthrough-ts',
  'native',
] as const;

export const floorDefinition = floor;

export function findSetup(name: string): SetupDefinition | undefined {
  return setupDefinitions.find((definition) => definition.name === name);
}

/** The io_uring variant of a setup, when it has one. */
export function uringVariantOf(name: string): string | null {
  const variant = `${name}${URING_SUFFIX}`;
  return findSetup(variant) ? variant : null;
}

/** A setup of a run: one of the job's external daemons (runners/external-setups.ts), or a built-in one. */
export function findRunSetup(
  name: string,
  externals: readonly ExternalSetupSpec[] = [],
): SetupDefinition | undefined {
  const external = externals.find((spec) => spec.name === name);
  return external ? externalSetupDefinition(external) : findSetup(name);
}

/** The setups with the io_uring variant of each that has one right after it (`--fuse-io-uring`). */
export function withIoUringVariants(names: string[], ioUring: boolean): string[] {
  if (!ioUring) return names;
  const variants = names.flatMap((name) => [name, uringVariantOf(name)]).filter((name) => name !== null);
  return [...new Set(variants)];
}
