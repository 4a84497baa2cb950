import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { FatalError } from '../lib/errors.js';
import type { BackendSpec, TransportOptions } from './transport.js';

/**
 * How a fusebench FUSE daemon is started, as one typed value checked at both ends: a run writes
 * it to a file and the daemon (`fusebench mount|passthrough --request FILE`) reads it back through
 * the same checks; `fusebench mount`'s own flags build the same value. A new FUSE option is a field
 * of TransportOptions and of `transportOptionChecks` (the mapped type makes the compiler hold the
 * two together); nothing turns it into argv and back.
 *
 * The checks are plain functions, not a schema library: every cold round of a run starts a daemon
 * that reads one of these, and loading zod cost 120 ms of its start on an idle 2-core VM.
 */

export interface DaemonRequest {
  backend: BackendSpec;
  /** Absolute, symlink-free path of the mount point, as mountinfo will show it. */
  mountpoint: string;
  /** A transport name (fuse/transports/index.ts checks it is one it knows). */
  transport: string;
  options: TransportOptions;
  /** Where the daemon writes what it set and negotiated once serving, or null. */
  factsFile: string | null;
}

/** A field's check: null when the value is good, else what was expected. */
type Check = (value: unknown) => string | null;
type Checks<T> = { [K in keyof T]-?: Check };

const expect =
  (what: string, good: (value: unknown) => boolean): Check =>
  (value) =>
    good(value) ? null : `${what} expected, got ${JSON.stringify(value) ?? String(value)}`;
const isBoolean = expect('true or false', (value) => typeof value === 'boolean');
const isSeconds = expect(
  'a finite number of seconds ≥ 0',
  (value) => typeof value === 'number' && Number.isFinite(value) && value >= 0,
);
const isCount = (least: number) =>
  expect(`an integer ≥ ${least}`, (value) => Number.isSafeInteger(value) && (value as number) >= least);
const isName = expect('a non-empty string', (value) => typeof value === 'string' && value !== '');
const isAbsolutePath = expect(
  'an absolute path',
  (value) => typeof value === 'string' && value.startsWith('/'),
);
const optional =
  (check: Check): Check =>
  (value) =>
    value === undefined ? null : check(value);
const nested =
  <T>(checks: Checks<T>): Check =>
  (value) =>
    problemOf(value, checks);

const transportOptionChecks: Checks<TransportOptions> = {
  entryTimeout: isSeconds,
  attrTimeout: isSeconds,
  negativeTimeout: isSeconds,
  kernelCache: isBoolean,
  autoCache: isBoolean,
  maxRead: isCount(0),
  directIo: isBoolean,
  threads: isCount(1),
  cloneFd: isBoolean,
  kernelPassthrough: isBoolean,
  fsname: isName,
};

const backendChecks: Checks<BackendSpec> = {
  kind: expect("'erofs' or 'passthrough'", (value) => value === 'erofs' || value === 'passthrough'),
  source: isAbsolutePath,
  devices: optional(
    expect(
      'a list of absolute paths',
      (value) => Array.isArray(value) && value.every((path) => isAbsolutePath(path) === null),
    ),
  ),
  preload: optional(isBoolean),
};

const requestChecks: Checks<DaemonRequest> = {
  backend: nested(backendChecks),
  mountpoint: isAbsolutePath,
  transport: isName,
  options: nested(transportOptionChecks),
  factsFile: (value) => (value === null ? null : isAbsolutePath(value)),
};

/** The first problem of `value` as an object with exactly these fields, as `path: what`, or null. */
function problemOf<T>(value: unknown, checks: Checks<T>): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ': an object expected';
  const unknown = Object.keys(value).filter((key) => !Object.hasOwn(checks, key));
  if (unknown.length > 0) return `: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`;
  for (const [key, check] of Object.entries(checks) as [string, Check][]) {
    const problem = check((value as Record<string, unknown>)[key]);
    if (problem !== null) return /^[:.]/.test(problem) ? `.${key}${problem}` : `.${key}: ${problem}`;
  }
  return null;
}

/** A request from anywhere (flags, a file), checked; a bad one is a one-line error naming the field. */
export function parseDaemonRequest(value: unknown, where: string): DaemonRequest {
  const problem = problemOf(value, requestChecks);
  if (problem === null) return value as DaemonRequest;
  throw new FatalError(`${where}: ${problem.startsWith(':') ? `request${problem}` : problem.slice(1)}`);
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
