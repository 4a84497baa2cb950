import type { Filesystem } from '../filesystem.js';
import type { BackendSpec } from '../transport.js';

/**
 * Builds the backend a spec names. Each is loaded only when asked for: a passthrough daemon starts
 * without the EROFS reader, an EROFS daemon without the passthrough.
 */
export async function createBackend(spec: BackendSpec): Promise<Filesystem> {
  switch (spec.kind) {
    case 'passthrough':
      return (await import('./passthrough.js')).createPassthroughBackend(spec.source);
    case 'erofs':
      return (await import('./erofs.js')).createErofsBackend(spec);
  }
}
