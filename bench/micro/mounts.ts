import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { findDaemon, pruneDaemonRecords } from '../../fuse/daemon.js';
import { daemonEnvironment } from '../../lib/daemon-environment.js';
import { findMount, readMountInfo, unmount } from '../../lib/mounts.js';
import { signalExitStatus, takeSignals } from '../../lib/signals.js';
import { setFuseIoUring } from '../../runners/fuse-uring.js';

/**
 * Mounts for the micro benchmarks (roundtrip.ts, cold-read.ts): fusebench's own daemons through
 * its CLI and peer daemons from their binaries, each with a stop() that unmounts and returns what
 * the daemon said on stderr.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const START_MS = 20_000;
/**
 * How often a start is checked for (the facts file, the mount): bench:cold times starts through
 * these waits, and 20 ms steps made its figures move by as much; 5 ms costs the starting daemon
 * little CPU beside it.
 */
const START_POLL_MS = 5;
/** Where the peers setup installs erofsfuse (built from Debian's source package). */
const PEER_EROFSFUSE = '/opt/fusebench/peers/erofs-utils/bin/erofsfuse';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const projectPath = (path: string): string => join(ROOT, path);

/** enable_uring's value before mountFusebench turned it on for a starting daemon, else null. */
let uringBefore: boolean | null = null;

/**
 * The daemons this script started that have not ended. One still starting has neither a mount
 * nor a record for the signal cleanup to find, and would go on starting after the script's exit.
 */
const daemonChildren = new Set<ResultPromise>();

/** Waits until `ready()`, the daemon's end, or START_MS, whichever comes first. */
async function waitForStart(ready: () => boolean, child: ResultPromise): Promise<void> {
  for (let waited = 0; waited < START_MS && !ready() && child.exitCode === null; waited += START_POLL_MS)
    await sleep(START_POLL_MS);
}

function started(child: ResultPromise): ResultPromise {
  daemonChildren.add(child);
  void child.finally(() => daemonChildren.delete(child));
  return child;
}

/**
 * Ctrl-C (or SIGTERM, SIGHUP) during a micro benchmark: puts enable_uring back if a daemon was
 * starting with it, unmounts everything mounted under `work` (kernel and FUSE mounts alike; our
 * daemons and the peers end with their mounts), removes `work` (its images are hundreds of MiB),
 * and exits with 128 + the signal's number. Without it the signal ended the script at once and
 * left all of that behind.
 */
export function cleanUpOnSignal(work: string): void {
  let stopping = false;
  takeSignals((signal) => {
    if (stopping) return;
    stopping = true;
    // What the benchmark's own flow throws from now on (its drivers and daemons are signalled
    // too) is the signal's doing, and must not end the process before this cleanup has.
    process.on('uncaughtException', () => {});
    const inWork = () => readMountInfo().filter((entry) => entry.mountpoint.startsWith(`${work}/`));
    // Our daemons (also signalled, by a Ctrl-C to the process group) end once unmounted; their
    // records go once they have, as they dropped root and cannot remove them themselves. The
    // benchmark's own flow may have removed `work` meanwhile (its finally).
    const daemonsLeft = () =>
      existsSync(work) && readdirSync(work).some((name) => findDaemon(join(work, name)));
    void (async () => {
      let outcome = '';
      try {
        if (uringBefore !== null) setFuseIoUring(uringBefore);
        // The flow goes on between these awaits and may mount again: until nothing is mounted
        // and no daemon is left, checked right before the exit. A daemon still starting stops
        // once it serves (ours) or ends at once (a peer) on SIGTERM.
        for (
          let waited = 0;
          waited < START_MS && (inWork().length > 0 || daemonsLeft() || daemonChildren.size > 0);
          waited += 50
        ) {
          for (const entry of inWork().reverse()) await unmount(entry.mountpoint);
          for (const child of daemonChildren) child.kill('SIGTERM');
          await sleep(50);
        }
        pruneDaemonRecords();
        const left = inWork().length;
        if (left === 0) rmSync(work, { recursive: true, force: true });
        outcome =
          left === 0
            ? `${work} unmounted and removed`
            : `${left} mounts under ${work} are left: unmount them by hand`;
      } catch (error) {
        outcome = `cleanup failed: ${(error as Error).message}`;
      } finally {
        process.stderr.write(`${basename(process.argv[1] ?? 'bench')}: stopped by ${signal}; ${outcome}\n`);
        process.exit(signalExitStatus(signal));
      }
    })();
  });
}

export interface MountedSetup {
  name: string;
  mountpoint: string;
  /** The daemon's facts (fusebench daemons), or {}. */
  facts: Record<string, unknown>;
  /** The daemon's process id, when there is one. */
  pid?: number;
  stop(): Promise<string | undefined>;
}

export function erofsfuseBinary(): string | null {
  return existsSync(PEER_EROFSFUSE) ? PEER_EROFSFUSE : null;
}

function stopper(mountpoint: string, child: ResultPromise): () => Promise<string> {
  return async () => {
    await unmount(mountpoint);
    const said = String((await child).stderr);
    // Our daemons drop root and cannot remove their own record.
    pruneDaemonRecords();
    return said;
  };
}

/**
 * `fusebench mount IMAGE MOUNTPOINT ARGS`. With `ioUring`, the fuse module's enable_uring is on
 * while the daemon starts (the kernel decides at INIT) and back to its old value right after.
 */
export async function mountFusebench(
  name: string,
  image: string,
  mountpoint: string,
  args: string[],
  work: string,
  ioUring = false,
): Promise<MountedSetup> {
  const factsFile = join(work, `${name}.facts.json`);
  rmSync(factsFile, { force: true });
  const old = ioUring ? setFuseIoUring(true) : null;
  uringBefore = old;
  let child: ResultPromise;
  try {
    child = started(
      execa(process.execPath, [CLI, 'mount', image, mountpoint, ...args, '--facts-file', factsFile], {
        reject: false,
        stdin: 'ignore',
        env: daemonEnvironment(),
        extendEnv: false,
      }),
    );
    await waitForStart(() => existsSync(factsFile), child);
  } finally {
    if (old !== null) setFuseIoUring(old);
    uringBefore = null;
  }
  if (!existsSync(factsFile)) throw new Error(`${name} did not start: ${String((await child).stderr)}`);
  const facts = JSON.parse(readFileSync(factsFile, 'utf8')) as Record<string, unknown>;
  return { name, mountpoint, facts, pid: Number(facts.pid), stop: stopper(mountpoint, child) };
}

/** A peer daemon in the foreground (`-f` or the like in `args`), ready once the mount shows. */
export async function mountPeer(
  name: string,
  binary: string,
  args: string[],
  mountpoint: string,
): Promise<MountedSetup> {
  const child = started(execa(binary, args, { reject: false, stdin: 'ignore' }));
  await waitForStart(() => findMount(mountpoint) !== undefined, child);
  if (!findMount(mountpoint)) throw new Error(`${name} did not mount: ${String((await child).stderr)}`);
  return { name, mountpoint, facts: {}, pid: child.pid, stop: stopper(mountpoint, child) };
}

/**
 * Stops every mounted setup, newest first, saying each daemon's last word on stderr; removes the
 * work directory only when nothing is left mounted in it.
 */
export async function stopAll(mounted: MountedSetup[], work: string): Promise<void> {
  for (const setup of [...mounted].reverse()) {
    const said = await setup.stop().catch((error: Error) => error.message);
    if (said) process.stderr.write(`${setup.name}: ${said.trim().split('\n').at(-1)}\n`);
  }
  if (mounted.every((setup) => !findMount(setup.mountpoint)) && existsSync(work))
    rmSync(work, { recursive: true, force: true });
}
