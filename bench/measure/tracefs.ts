import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireTracefs, INSTANCE_PREFIX, TRACEFS } from '../../lib/tracefs.js';
import { LatencyHistogram } from '../../results/histogram.js';
import type { FuseInFlight, FuseOpcodeStats } from '../../results/schema.js';
import { percentile } from '../../results/statistics.js';
import type { CleanupStack } from '../../runners/cleanup.js';

/**
 * FUSE requests per opcode and their kernel-side latency, from the fuse:fuse_request_send and
 * fuse:fuse_request_end tracepoints matched by request id. Tracing runs in a private tracefs
 * instance (instances/fusebench-PID), so the global tracing state is never touched; tracefs is
 * mounted only if it was not (lib/tracefs.ts), and both are undone through the cleanup stack.
 * Timestamps in the text trace have microsecond resolution.
 *
 * What the two tracepoints carry (kernel 6.18, the format file of each event under events/fuse): send has the connection,
 * the request's unique id, opcode and length; end has the connection, unique id, reply length and
 * error. So send→end per request, and from the pairs the requests in flight at any moment, are
 * measurable; when the daemon picked a request up is not (no tracepoint on the read side), so
 * time spent queued cannot be told apart from the daemon's work inside send→end.
 */

const EVENTS = ['fuse_request_send', 'fuse_request_end'];
/** Per-CPU ring buffer; about 100 bytes per event, two events per request. */
const BUFFER_KB_PER_CPU = 32768;

const OPCODE_NAMES: Record<number, string> = {
  1: 'LOOKUP',
  2: 'FORGET',
  3: 'GETATTR',
  4: 'SETATTR',
  5: 'READLINK',
  14: 'OPEN',
  15: 'READ',
  16: 'WRITE',
  17: 'STATFS',
  18: 'RELEASE',
  20: 'FSYNC',
  22: 'GETXATTR',
  23: 'LISTXATTR',
  25: 'FLUSH',
  26: 'INIT',
  27: 'OPENDIR',
  28: 'READDIR',
  29: 'RELEASEDIR',
  34: 'ACCESS',
  36: 'INTERRUPT',
  37: 'BMAP',
  38: 'DESTROY',
  39: 'IOCTL',
  40: 'POLL',
  42: 'BATCH_FORGET',
  44: 'READDIRPLUS',
  46: 'LSEEK',
  52: 'STATX',
};

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `OPCODE_${opcode}`;
}

/** The tracepoints' `connection` field: the FUSE superblock's dev_t in the kernel's MKDEV encoding. */
export function fuseConnectionOf(mountDevice: string): number {
  const [major = 0, minor = 0] = mountDevice.split(':').map(Number);
  return major * 2 ** 20 + minor;
}

export interface TraceResult {
  opcodes: Record<string, FuseOpcodeStats>;
  /** Null when no request with a reply was traced. */
  inFlight: FuseInFlight | null;
  /** Events the ring buffer dropped; non-zero means the counts are too low. */
  overruns: number;
}

export class FuseTracer {
  private constructor(private readonly instance: string) {}

  /** Opens a private instance, or says why tracing cannot be done here. */
  static open(cleanup: CleanupStack): FuseTracer | string {
    try {
      // Pushed whenever fusebench mounted tracefs, by this run or another: the last one out unmounts it.
      if (acquireTracefs()) cleanup.push({ kind: 'tracefs-mount', path: TRACEFS });
    } catch (error) {
      return `cannot mount tracefs at ${TRACEFS}: ${(error as Error).message}`;
    }
    if (!existsSync(join(TRACEFS, 'events/fuse/fuse_request_send'))) {
      return 'this kernel has no fuse:fuse_request_send tracepoint';
    }
    const instance = join(TRACEFS, 'instances', `${INSTANCE_PREFIX}${process.pid}`);
    try {
      mkdirSync(instance);
    } catch (error) {
      return `cannot create tracefs instance ${instance}: ${(error as Error).message}`;
    }
    cleanup.push({ kind: 'tracefs-instance', path: instance });
    const tracer = new FuseTracer(instance);
    tracer.write('tracing_on', '0');
    tracer.write('buffer_size_kb', String(BUFFER_KB_PER_CPU));
    return tracer;
  }

  private write(file: string, value: string): void {
    writeFileSync(join(this.instance, file), value);
  }

  /** Starts recording the requests of one FUSE connection, from an empty buffer. */
  start(connection: number): void {
    this.write('trace', '');
    for (const event of EVENTS) {
      this.write(`events/fuse/${event}/filter`, `connection == ${connection}`);
      this.write(`events/fuse/${event}/enable`, '1');
    }
    this.write('tracing_on', '1');
  }

  stop(): TraceResult {
    this.write('tracing_on', '0');
    for (const event of EVENTS) this.write(`events/fuse/${event}/enable`, '0');
    const result = {
      ...parseFuseTrace(readFileSync(join(this.instance, 'trace'), 'utf8')),
      overruns: this.overruns(),
    };
    this.write('trace', '');
    return result;
  }

  private overruns(): number {
    let total = 0;
    for (const cpu of readdirSync(join(this.instance, 'per_cpu'))) {
      const stats = readFileSync(join(this.instance, 'per_cpu', cpu, 'stats'), 'utf8');
      total += Number(/^overrun: (\d+)/m.exec(stats)?.[1] ?? 0);
    }
    return total;
  }
}

const SEND = /\s(\d+\.\d+): fuse_request_send: connection \d+ req (\d+) opcode (\d+)/;
const END = /\s(\d+\.\d+): fuse_request_end: connection \d+ req (\d+) len \d+ error (-?\d+)/;

/** Seconds with a microsecond fraction, as ftrace prints them, to integer nanoseconds. */
function timestampNs(text: string): number {
  const [seconds = '0', fraction = '0'] = text.split('.');
  return Number(seconds) * 1e9 + Number(fraction.padEnd(9, '0').slice(0, 9));
}

/** A request with both events in the trace. */
interface TracedRequest {
  sentNs: number;
  endedNs: number;
}

/**
 * Requests in flight over the traced span. At equal timestamps (the clock is in µs) ends count
 * before sends: a request sent in the microsecond another ended is not taken to have waited on it.
 */
export function inFlightOf(requests: readonly TracedRequest[]): FuseInFlight | null {
  if (requests.length === 0) return null;
  const events = requests.flatMap((request) => [
    { atNs: request.sentNs, change: 1 },
    { atNs: request.endedNs, change: -1 },
  ]);
  events.sort((a, b) => a.atNs - b.atNs || a.change - b.change);
  const first = events[0]!.atNs;
  const last = events.at(-1)!.atNs;
  let depth = 0;
  let maxDepth = 0;
  let weighted = 0;
  let previous = first;
  const ahead: number[] = [];
  for (const event of events) {
    weighted += depth * (event.atNs - previous);
    previous = event.atNs;
    if (event.change > 0) ahead.push(depth);
    depth += event.change;
    maxDepth = Math.max(maxDepth, depth);
  }
  const spanNs = last - first;
  return {
    spanNs,
    meanDepth: spanNs > 0 ? weighted / spanNs : maxDepth,
    maxDepth,
    aheadP50: percentile(ahead, 0.5),
    aheadP99: percentile(ahead, 0.99),
  };
}

export function parseFuseTrace(trace: string): Omit<TraceResult, 'overruns'> {
  const pending = new Map<string, { opcode: string; sentNs: number }>();
  const latencies = new Map<string, number[]>();
  const requests: TracedRequest[] = [];
  const counts = new Map<string, { count: number; errors: number }>();
  for (const line of trace.split('\n')) {
    const send = SEND.exec(line);
    if (send) {
      const opcode = opcodeName(Number(send[3]));
      pending.set(send[2]!, { opcode, sentNs: timestampNs(send[1]!) });
      const entry = counts.get(opcode) ?? { count: 0, errors: 0 };
      entry.count++;
      counts.set(opcode, entry);
      continue;
    }
    const end = END.exec(line);
    if (!end) continue;
    const request = pending.get(end[2]!);
    if (!request) continue;
    pending.delete(end[2]!);
    const endedNs = timestampNs(end[1]!);
    requests.push({ sentNs: request.sentNs, endedNs });
    const list = latencies.get(request.opcode) ?? [];
    list.push(endedNs - request.sentNs);
    latencies.set(request.opcode, list);
    if (Number(end[3]) !== 0) counts.get(request.opcode)!.errors++;
  }
  const opcodes: Record<string, FuseOpcodeStats> = {};
  for (const [opcode, { count, errors }] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    // FORGET and BATCH_FORGET get no reply, so they have a count but no latency.
    const values = latencies.get(opcode) ?? [];
    opcodes[opcode] = {
      count,
      errors,
      totalNs: values.reduce((sum, value) => sum + value, 0),
      p50Ns: values.length > 0 ? percentile(values, 0.5) : 0,
      p90Ns: values.length > 0 ? percentile(values, 0.9) : 0,
      p99Ns: values.length > 0 ? percentile(values, 0.99) : 0,
      maxNs: values.reduce((max, value) => Math.max(max, value), 0),
      histogram: LatencyHistogram.of(values).encode(),
    };
  }
  return { opcodes, inFlight: inFlightOf(requests) };
}
