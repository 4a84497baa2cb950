import type { Filesystem } from '../filesystem.js';
import type { BackendSpec } from '../transport.js';

/**
 * Builds the backend a spec names. Each is loaded only when asked for, so a daemon starts
 * with the one it serves and not the other.
 */
export async function createBackend(spec: BackendSpec): Promise<Filesystem> {
  switch (spec.kind) {
    case 'passthrough':
      return (await import('./passthrough.js')).createPassthroughBackend(spec.source);
    case 'erofs':
      return (await import('./erofs.js')).createErofsBackend(spec);
  }
}
