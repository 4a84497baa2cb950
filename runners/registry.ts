import {
  erofsfuse,
  fuseErofsTs,
  fusePassthroughKernel,
  fusePassthroughTs,
  squashfuse,
} from './fuse-setups.js';
import { floor, native, squashfs } from './host-setups.js';
import { kernelErofs } from './kernel-erofs.js';
import type { SetupDefinition } from './setup.js';

/** Every setup fusebench can measure, in the order results list them; the floor is run separately. */
export const setupDefinitions: readonly SetupDefinition[] = [
  kernelErofs,
  fuseErofsTs,
  fusePassthroughTs,
  native,
  fusePassthroughKernel,
  erofsfuse,
  squashfuse,
  squashfs,
];

export const setupNames = setupDefinitions.map((definition) => definition.name);

/** The four setups the comparison is about; `fusebench run` measures these unless told otherwise. */
export const coreSetupNames = ['kernel-erofs', 'fuse-erofs-ts', 'fuse-passthrough-ts', 'native'] as const;

export const floorDefinition = floor;

export function findSetup(name: string): SetupDefinition | undefined {
  return setupDefinitions.find((definition) => definition.name === name);
}
