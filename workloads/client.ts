import {
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  writeFileSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { syscalls } from '../lib/syscalls.js';
import { decodeOps, MAX_SLOTS, type Op } from './ops.js';
import {
  CLIENT_ERROR,
  CLIENT_GO,
  CLIENT_READY,
  type ClientJob,
  type ClientReport,
  parseJob,
} from './protocol.js';

/**
 * The Node client: executes op streams against a mount point in its own process, so its rusage
 * is its own. Starting Node costs ~0.2 s on a small VM, paid once per process rather than once
 * per repetition: the process serves one job after another (workloads/protocol.ts) until its
 * stdin ends. For each job it loads the stream, says "ready", waits for "go" (so the measuring
 * side snapshots its counters right before the first operation), times every operation, and
 * reports. Between jobs it holds nothing in a mount point (no descriptor, no working
 * directory), so setups can be unmounted. Usage: client.js (jobs on stdin)
 */

let buffer = Buffer.alloc(4096);
const slots = new Array<number>(MAX_SLOTS).fill(-1);
let errors: Record<string, number> = {};
let bytes = 0;

function readWhole(path: string, blockSize: number): void {
  const fd = openSync(path, 'r');
  try {
    for (let offset = 0; ; ) {
      const read = readSync(fd, buffer, 0, blockSize, offset);
      if (read === 0) break;
      offset += read;
      bytes += read;
    }
  } finally {
    closeSync(fd);
  }
}

function execute(op: Op): void {
  switch (op.kind) {
    case 'lstat':
      lstatSync(op.path);
      return;
    case 'lstat-miss':
      if (lstatSync(op.path, { throwIfNoEntry: false }) !== undefined) throw new Error('exists');
      return;
    case 'readdir':
      readdirSync(op.path);
      return;
    case 'open':
      slots[op.slot] = openSync(op.path, 'r');
      return;
    case 'close':
      closeSync(slots[op.slot]!);
      slots[op.slot] = -1;
      return;
    case 'pread':
      bytes += readSync(slots[op.slot]!, buffer, 0, op.length, op.offset);
      return;
    case 'readfile':
      readWhole(op.path, op.blockSize);
      return;
    case 'getxattr':
      syscalls.lgetxattr(op.path, op.name);
      return;
    case 'listxattr':
      syscalls.llistxattr(op.path);
      return;
    case 'readlink':
      readlinkSync(op.path, { encoding: 'buffer' });
      return;
    case 'mmapread':
      throw new Error('mmap needs the native driver');
  }
}

function run(ops: readonly Op[], latencies: Float64Array): ClientReport {
  const usageBefore = process.resourceUsage();
  const started = process.hrtime.bigint();
  let previous = started;
  for (let index = 0; index < ops.length; index++) {
    const op = ops[index]!;
    try {
      execute(op);
    } catch {
      errors[op.kind] = (errors[op.kind] ?? 0) + 1;
    }
    const now = process.hrtime.bigint();
    latencies[index] = Number(now - previous);
    previous = now;
  }
  const wallNs = Number(previous - started);
  const usageAfter = process.resourceUsage();
  return {
    wallNs,
    opCount: ops.length,
    bytes,
    errors,
    userNs: (usageAfter.userCPUTime - usageBefore.userCPUTime) * 1000,
    systemNs: (usageAfter.systemCPUTime - usageBefore.systemCPUTime) * 1000,
    voluntaryCtxSwitches: usageAfter.voluntaryContextSwitches - usageBefore.voluntaryContextSwitches,
    involuntaryCtxSwitches: usageAfter.involuntaryContextSwitches - usageBefore.involuntaryContextSwitches,
  };
}

const warmedKinds = new Set<string>();
const WARMUP_ROUNDS = 2000;

/**
 * Runs the same code paths on files outside the mount until V8 has optimised them, so the first
 * measured operations do not pay for JIT compilation. Only kinds a stream uses are warmed, each
 * once per process.
 */
function warmUp(ops: readonly Op[]): void {
  const used = new Set<string>(ops.map((op) => op.kind).filter((kind) => !warmedKinds.has(kind)));
  if (used.size === 0) return;
  // open, pread and close only work as a group on the stand-in descriptor.
  const descriptorOps = ['open', 'pread', 'close'];
  if (descriptorOps.some((kind) => used.has(kind))) for (const kind of descriptorOps) used.add(kind);
  const standIns: Op[] = [
    { kind: 'lstat', path: '/' },
    { kind: 'lstat-miss', path: '/.fusebench-warmup-missing' },
    { kind: 'readdir', path: '/' },
    { kind: 'open', slot: 0, path: '/dev/zero' },
    { kind: 'pread', slot: 0, offset: 0, length: 4096 },
    { kind: 'close', slot: 0 },
    { kind: 'readfile', path: '/proc/self/stat', blockSize: 4096 },
    { kind: 'listxattr', path: '/' },
    { kind: 'readlink', path: '/proc/self/exe' },
  ].filter((op) => used.has(op.kind)) as Op[];
  for (let round = 0; round < WARMUP_ROUNDS; round++) {
    for (const op of standIns) {
      try {
        execute(op);
      } catch {
        // A stand-in that fails still exercises the path.
      }
    }
  }
  for (const kind of used) warmedKinds.add(kind);
}

/** Back to holding nothing: descriptors a stream left open are closed, the working directory leaves the mount. */
function release(): void {
  for (let slot = 0; slot < slots.length; slot++) {
    if (slots[slot]! >= 0) closeSync(slots[slot]!);
    slots[slot] = -1;
  }
  process.chdir('/');
}

/** Loads a job's stream and enters its mount point; the returned function runs it once "go" arrives. */
function prepare(job: ClientJob): () => void {
  const ops = decodeOps(readFileSync(job.opsFile, 'utf8'));
  const maxRead = ops.reduce(
    (max, op) => Math.max(max, op.kind === 'pread' ? op.length : op.kind === 'readfile' ? op.blockSize : 0),
    4096,
  );
  if (buffer.length < maxRead) buffer = Buffer.alloc(maxRead);
  const latencies = new Float64Array(ops.length);
  warmUp(ops);
  errors = {};
  bytes = 0;
  process.chdir(job.mountpoint);
  return () => {
    try {
      const report = run(ops, latencies);
      writeFileSync(job.latencyFile, latencies);
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } finally {
      release();
    }
  };
}

let pending: (() => void) | null = null;
for await (const line of createInterface({ input: process.stdin })) {
  if (pending) {
    const start = pending;
    pending = null;
    if (line !== CLIENT_GO) process.exit(2);
    start();
    // The next job's measured section should not pay for this one's garbage.
    global.gc?.();
    continue;
  }
  try {
    pending = prepare(parseJob(line));
    process.stdout.write(`${CLIENT_READY}\n`);
  } catch (error) {
    release();
    process.stdout.write(
      `${CLIENT_ERROR}\t${(error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ')}\n`,
    );
  }
}
