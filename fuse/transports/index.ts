import { UsageError } from '../../lib/errors.js';
import type { Transport } from '../transport.js';
import { devfuseTransport, devfuseUringTransport } from './devfuse.js';
import { fuseNativeTransport } from './fuse-native.js';

/** Every transport a FUSE setup can name, by the name `--transport` takes. */
const transports: readonly Transport[] = [fuseNativeTransport, devfuseTransport, devfuseUringTransport];

export const transportNames = (): string[] => transports.map((transport) => transport.name);

export function transportNamed(name: string): Transport {
  const transport = transports.find((candidate) => candidate.name === name);
  if (!transport) throw new UsageError(`unknown transport '${name}' (known: ${transportNames().join(', ')})`);
  return transport;
}
