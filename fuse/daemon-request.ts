import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { FatalError } from '../lib/errors.js';
import type { BackendSpec, TransportOptions } from './transport.js';

/**
 * How a fusebench FUSE daemon is started, as one typed value validated at both ends: a run writes
 * it to a file and the daemon (`fusebench mount|passthrough --request FILE`) reads it back through
 * the same schema; `fusebench mount`'s own flags build the same value. A new FUSE option is a field
 * of TransportOptions and of this schema (the compiler holds the two together); nothing turns it
 * into argv and back.
 */

const backendSpecSchema = z
  .object({
    kind: z.enum(['erofs', 'passthrough']),
    source: z.string().startsWith('/'),
    devices: z.array(z.string().startsWith('/')).optional(),
    preload: z.boolean().optional(),
  })
  .strict() satisfies z.ZodType<BackendSpec>;

const seconds = z.number().finite().nonnegative();

export const transportOptionsSchema = z
  .object({
    entryTimeout: seconds,
    attrTimeout: seconds,
    negativeTimeout: seconds,
    kernelCache: z.boolean(),
    autoCache: z.boolean(),
    maxRead: z.number().int().nonnegative(),
    directIo: z.boolean(),
    threads: z.number().int().positive(),
    cloneFd: z.boolean(),
    kernelPassthrough: z.boolean(),
    fsname: z.string().min(1),
  })
  .strict() satisfies z.ZodType<TransportOptions>;

export const daemonRequestSchema = z
  .object({
    backend: backendSpecSchema,
    /** Absolute, symlink-free path of the mount point, as mountinfo will show it. */
    mountpoint: z.string().startsWith('/'),
    /** A transport name (fuse/transports/index.ts checks it is one it knows). */
    transport: z.string().min(1),
    options: transportOptionsSchema,
    /** Where the daemon writes what it set and negotiated once serving, or null. */
    factsFile: z.string().startsWith('/').nullable(),
  })
  .strict();

export type DaemonRequest = z.infer<typeof daemonRequestSchema>;

/** A request from anywhere (flags, a file), checked; a bad one is a one-line error naming the field. */
export function parseDaemonRequest(value: unknown, where: string): DaemonRequest {
  const parsed = daemonRequestSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new FatalError(`${where}: ${issue.path.join('.') || 'request'}: ${issue.message}`);
}

export function readDaemonRequest(path: string): DaemonRequest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FatalError(`--request ${path}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read'}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FatalError(`--request ${path}: not JSON`);
  }
  return parseDaemonRequest(value, `--request ${path}`);
}

/** Checked before it is written, so a daemon never starts from a request its own side would refuse. */
export function writeDaemonRequest(path: string, request: DaemonRequest): void {
  const checked = parseDaemonRequest(request, path);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(checked, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}
