import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonEnvironment } from '../lib/daemon-environment.js';
import { FatalError } from '../lib/errors.js';
import { findMount, unmount } from '../lib/mounts.js';
import {
  dropPrivileges,
  startUnmountHelper,
  UNPRIVILEGED_ID,
  type UnmountHelper,
} from '../lib/privileges.js';
import { writeFileAtomic } from '../lib/safe-write.js';
import { takeSignals } from '../lib/signals.js';
import { syscalls } from '../lib/syscalls.js';
import { isAlive, processStartTime, stopProcess } from '../runners/processes.js';
import type { DaemonRequest } from './daemon-request.js';
import type { BackendSpec, Fact, ServedMount } from './transport.js';
import { loadTransport } from './transports/index.js';

/**
 * The fusebench FUSE daemon: serves one backend at one mount point until the mount goes away
 * (SIGTERM/SIGINT, `fusebench umount`, plain umount), then exits 0. Each daemon leaves a small
 * record under DAEMONS_DIR so `fusebench umount` can find it and wait for it to end.
 */

export const DAEMONS_DIR = '/run/fusebench-daemons';
const BACKGROUND_READY_MS = 30_000;
const DAEMON_EXIT_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a running daemon records about itself. */
export interface DaemonRecord {
  pid: number;
  startTime: number;
  mountpoint: string;
  source: string;
  transport: string;
}

export function daemonRecordPath(mountpoint: string): string {
  const key = createHash('sha256').update(mountpoint).digest('hex').slice(0, 24);
  return join(DAEMONS_DIR, `${key}.json`);
}

/** The daemon serving `mountpoint`, if one recorded itself and is still that same process. */
export function findDaemon(mountpoint: string): DaemonRecord | null {
  try {
    const record = JSON.parse(readFileSync(daemonRecordPath(mountpoint), 'utf8')) as DaemonRecord;
    if (record.mountpoint !== mountpoint) return null;
    if (processStartTime(record.pid) !== record.startTime || !isAlive(record.pid)) return null;
    return record;
  } catch {
    return null;
  }
}

/** How old a daemon's stray log or temporary record must be before pruning removes it. */
const ORPHAN_AGE_MS = 60_000;

/**
 * Removes the records (and logs) of daemons that are gone: a SIGKILLed daemon, or one that dropped
 * root, cannot remove its own. Called by every new daemon, by a run when it has stopped a daemon,
 * and by `fusebench cleanup`; returns how many it removed.
 */
export function pruneDaemonRecords(): number {
  if (!existsSync(DAEMONS_DIR)) return 0;
  let removed = 0;
  for (const name of readdirSync(DAEMONS_DIR).filter((entry) => entry.endsWith('.json'))) {
    const path = join(DAEMONS_DIR, name);
    let alive = false;
    try {
      const record = JSON.parse(readFileSync(path, 'utf8')) as DaemonRecord;
      alive = processStartTime(record.pid) === record.startTime && isAlive(record.pid);
    } catch {
      // Unreadable: a record being written is renamed into place whole, so this one is broken.
    }
    if (alive) continue;
    rmSync(path, { force: true });
    rmSync(path.replace(/\.json$/, '.log'), { force: true });
    removed++;
  }
  // A log without its record (a daemon that failed, or dropped root and could not remove it) and a
  // half-written record of a writer that died; a minute old, so a daemon still starting keeps them.
  const settled = Date.now() - ORPHAN_AGE_MS;
  for (const name of readdirSync(DAEMONS_DIR)) {
    const path = join(DAEMONS_DIR, name);
    const orphan =
      name.endsWith('.tmp') || (name.endsWith('.log') && !existsSync(path.replace(/\.log$/, '.json')));
    const modified = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Number.POSITIVE_INFINITY;
    if (orphan && modified < settled) rmSync(path, { force: true });
  }
  return removed;
}

/**
 * A mount point the way mountinfo shows it (absolute, symlinks resolved). A dead FUSE mount
 * cannot be stat'ed (ENOTCONN), so only its parent is resolved.
 */
export function canonicalMountpoint(path: string): string {
  const absolute = resolve(path);
  try {
    return realpathSync(absolute);
  } catch {
    try {
      return join(realpathSync(dirname(absolute)), basename(absolute));
    } catch {
      return absolute;
    }
  }
}

function describeStatError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`;
}

/** Refuses, in one line, a request that cannot be served; returns the canonical mount point. */
export function checkDaemonRequest(command: string, backend: BackendSpec, mountpointArg: string): string {
  const sources = [backend.source, ...(backend.devices ?? [])];
  for (const source of sources) {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(source);
    } catch (error) {
      throw new FatalError(`${command}: source ${source} ${describeStatError(error)}`);
    }
    if (backend.kind === 'passthrough' && !stats.isDirectory()) {
      throw new FatalError(`${command}: source ${source} is not a directory`);
    }
    if (backend.kind === 'erofs' && !stats.isFile() && !stats.isBlockDevice()) {
      throw new FatalError(`${command}: image ${source} is neither a file nor a block device`);
    }
  }
  const mountpoint = canonicalMountpoint(mountpointArg);
  const mounted = findMount(mountpoint);
  if (mounted) {
    throw new FatalError(
      `${command}: mount point ${mountpoint} is already a mount point (${mounted.fstype} from ${mounted.source})`,
    );
  }
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(mountpoint);
  } catch (error) {
    throw new FatalError(`${command}: mount point ${mountpointArg} ${describeStatError(error)}`);
  }
  if (!stats.isDirectory()) throw new FatalError(`${command}: mount point ${mountpoint} is not a directory`);
  return mountpoint;
}

/**
 * Serves in the foreground until the mount goes away. Resolves to the exit status; an unref'd
 * timer makes sure nothing a native addon left referenced keeps the process alive after that.
 */
export async function runDaemon(request: DaemonRequest): Promise<number> {
  const transport = await loadTransport(request.transport);
  // Signals are caught from before the mount exists: one that arrives while the transport is still
  // mounting stops the daemon as soon as it serves, instead of killing it with the mount left behind.
  let served: ServedMount | null = null;
  let signalled = false;
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= served ? served.close() : Promise.resolve();
    return stopping;
  };
  const onSignal = () => {
    signalled = true;
    if (served) void stop();
  };
  const releaseSignals = takeSignals(onSignal);
  // Passthrough must open every file of its tree as its owner's equal, and kernel passthrough
  // registers backing files with the FUSE connection (CAP_SYS_ADMIN): those keep root.
  const keepsRoot =
    transport.needsRootWhileServing ??
    (request.backend.kind === 'passthrough' ? 'the passthrough opens files of every owner' : null);
  let unmountHelper: UnmountHelper | null = null;
  try {
    // Before the mount (a helper that cannot start then leaves nothing mounted), and not once
    // serving, where its start would compete with the first requests.
    if (keepsRoot === null) unmountHelper = startUnmountHelper(request.mountpoint);
    served = await transport.serve(
      { ...request.backend, preload: keepsRoot === null },
      request.mountpoint,
      request.options,
      keepsRoot === null
        ? () => (unmountHelper ? unmountHelper.unmount() : unmount(request.mountpoint))
        : undefined,
    );
  } catch (error) {
    // A daemon that never served must not wait on its helper: released, the shell just exits.
    unmountHelper?.release();
    releaseSignals();
    throw error;
  }
  if (signalled) void stop();
  const recordPath = daemonRecordPath(request.mountpoint);
  try {
    const facts: Record<string, Fact | Record<string, Fact>> = {
      ...served.facts,
      options: { ...request.options },
      backend: request.backend.kind,
      source: request.backend.source,
      mountpoint: request.mountpoint,
      pid: process.pid,
      privileges:
        keepsRoot === null
          ? `uid ${UNPRIVILEGED_ID} gid ${UNPRIVILEGED_ID}, no groups, no capabilities once serving`
          : `root (${keepsRoot})`,
    };
    if (request.factsFile) writeFileAtomic(request.factsFile, `${JSON.stringify(facts, null, 2)}\n`);
    const record: DaemonRecord = {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? 0,
      mountpoint: request.mountpoint,
      source: request.backend.source,
      transport: transport.name,
    };
    mkdirSync(DAEMONS_DIR, { recursive: true });
    pruneDaemonRecords();
    writeFileAtomic(recordPath, `${JSON.stringify(record)}\n`);
    if (keepsRoot === null) dropPrivileges();
    process.stderr.write(`fusebench: serving ${process.pid} at ${request.mountpoint}\n`);
    // Nothing left but serving and a signal's stop (a signal already seen has begun the stop).
    if (!signalled) served.serveInForeground();
    await served.closed;
  } catch (error) {
    await stop();
    throw error;
  } finally {
    try {
      rmSync(recordPath, { force: true });
      rmSync(recordPath.replace(/\.json$/, '.log'), { force: true });
    } catch {
      // Without root the record stays; whoever stopped us, the next daemon or `fusebench cleanup` prunes it.
    }
    releaseSignals();
    unmountHelper?.release();
    // What still holds the process a second later is a serving thread blocked in read(2) on
    // /dev/fuse (no request will come): process.exit() would wait for it, _exit(2) ends it, and
    // the kernel then aborts the connection, so open files on a detached mount get ENOTCONN.
    setTimeout(() => syscalls.exitProcess(Number(process.exitCode ?? 0)), 1000).unref();
  }
  return 0;
}

const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/**
 * `--background`: runs the same command detached (without --background), waits until it serves,
 * and returns its pid. Its stderr goes to a log beside its record, read back if it fails to start.
 */
export async function startInBackground(argv: string[], mountpoint: string): Promise<number> {
  // Loaded here: a daemon serving in the foreground never starts a Node child.
  const { spawn } = await import('node:child_process');
  mkdirSync(DAEMONS_DIR, { recursive: true });
  const logPath = daemonRecordPath(mountpoint).replace(/\.json$/, '.log');
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, [cliPath, ...argv.filter((arg) => arg !== '--background')], {
    detached: true,
    stdio: ['ignore', 'ignore', log],
    env: daemonEnvironment(),
  });
  closeSync(log);
  let exitStatus: number | null = null;
  child.on('exit', (code, signal) => {
    exitStatus = code ?? (signal ? 128 : 1);
  });
  child.on('error', () => {
    exitStatus = 1;
  });
  const pid = child.pid;
  try {
    for (let waited = 0; waited < BACKGROUND_READY_MS && exitStatus === null; waited += 20) {
      if (pid !== undefined && findDaemon(mountpoint)?.pid === pid) {
        child.unref();
        return pid;
      }
      await sleep(20);
    }
    // The daemon's own one-line reason, not the last line of a stack trace or of a later warning.
    const lines = existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n') : [];
    const said = (lines.filter((line) => line.startsWith('fusebench: ')).at(-1) ?? lines.at(-1) ?? '')
      .replace(/^fusebench: /, '')
      .trim();
    const reason =
      exitStatus !== null
        ? said || `exited with status ${exitStatus}`
        : `not serving after ${BACKGROUND_READY_MS / 1000} s${said ? ` (${said})` : ''}`;
    if (exitStatus === null && pid !== undefined) await stopProcess(pid);
    throw new FatalError(`background daemon failed: ${reason}`);
  } finally {
    if (exitStatus !== null) rmSync(logPath, { force: true });
  }
}

/**
 * `fusebench umount`: unmounts a FUSE mount and, when a fusebench daemon served it, waits for
 * that daemon to end (stopping it if it does not).
 */
export async function unmountDaemon(
  mountpointArg: string,
): Promise<{ mountpoint: string; daemon: number | null }> {
  const mountpoint = canonicalMountpoint(mountpointArg);
  const entry = findMount(mountpoint);
  const daemon = findDaemon(mountpoint);
  if (!entry && !daemon) throw new FatalError(`umount: ${mountpoint} is not mounted`);
  if (entry && !entry.fstype.startsWith('fuse')) {
    throw new FatalError(`umount: ${mountpoint} is a ${entry.fstype} mount, not FUSE (use umount(8))`);
  }
  if (entry) await unmount(mountpoint);
  if (findMount(mountpoint)?.mountId === entry?.mountId && entry) {
    throw new FatalError(`umount: ${mountpoint} is still mounted`);
  }
  if (daemon) {
    for (let waited = 0; waited < DAEMON_EXIT_MS && isAlive(daemon.pid); waited += 20) await sleep(20);
    if (processStartTime(daemon.pid) === daemon.startTime && isAlive(daemon.pid)) {
      await stopProcess(daemon.pid);
    }
  }
  // A daemon that was killed could not remove its record and log.
  const recordPath = daemonRecordPath(mountpoint);
  rmSync(recordPath, { force: true });
  rmSync(recordPath.replace(/\.json$/, '.log'), { force: true });
  return { mountpoint, daemon: daemon?.pid ?? null };
}
