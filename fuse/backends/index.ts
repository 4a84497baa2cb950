import type { Filesystem } from '../filesystem.js';
import type { BackendSpec } from '../transport.js';
import { createPassthroughBackend } from './passthrough.js';

/**
 * Builds the backend a spec names. The EROFS reader is loaded only when asked for, so a
 * passthrough daemon starts without it.
 */
export async function createBackend(spec: BackendSpec): Promise<Filesystem> {
  switch (spec.kind) {
    case 'passthrough':
      return createPassthroughBackend(spec.source);
    case 'erofs':
      return (await import('./erofs.js')).createErofsBackend(spec);
  }
}
