import { UsageError } from '../../lib/errors.js';
import type { Transport, TransportOptions } from '../transport.js';

/**
 * Every transport a FUSE setup can name, by the name `--transport` takes. Each is loaded only when
 * a daemon serves with it: fuse-native's module loads libfuse, which a devfuse daemon's cold start
 * has no use for.
 */
const transports: readonly {
  name: string;
  load(): Promise<Transport>;
  prestart?(options: TransportOptions): Promise<void>;
}[] = [
  { name: 'fuse-native', load: async () => (await import('./fuse-native.js')).fuseNativeTransport },
  {
    name: 'devfuse',
    load: async () => (await import('./devfuse.js')).devfuseTransport,
    prestart: (options) => prestartDevfuse(false, options),
  },
  {
    name: 'devfuse-uring',
    load: async () => (await import('./devfuse.js')).devfuseUringTransport,
    prestart: (options) => prestartDevfuse(true, options),
  },
];

/** A worker thread to boot only when the daemon will serve on workers. */
async function prestartDevfuse(ioUring: boolean, options: TransportOptions): Promise<void> {
  if ((await import('./devfuse-shared.js')).servesOnMainThread(ioUring, options.threads)) return;
  (await import('./devfuse-prestart.js')).prestartServingThread();
}

export const transportNames = (): string[] => transports.map((transport) => transport.name);

/** `name` when a transport has it; a usage error naming the known ones otherwise. */
export function checkTransportName(name: string): string {
  if (!transportNames().includes(name))
    throw new UsageError(`unknown transport '${name}' (known: ${transportNames().join(', ')})`);
  return name;
}

export async function loadTransport(name: string): Promise<Transport> {
  const transport = transports.find((candidate) => candidate.name === checkTransportName(name))!;
  return transport.load();
}

/**
 * Starts now what the transport would start first when serving and does not depend on the request
 * (devfuse: its first serving thread's boot), so that it overlaps the rest of the daemon's start.
 */
export async function prestartTransport(name: string, options: TransportOptions): Promise<void> {
  await transports.find((candidate) => candidate.name === name)?.prestart?.(options);
}
