import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { pruneDaemonRecords } from '../../fuse/daemon.js';
import { daemonEnvironment } from '../../lib/daemon-environment.js';
import { findMount, unmount } from '../../lib/mounts.js';
import { setFuseIoUring } from '../../runners/fuse-uring.js';

/**
 * Mounts for the micro benchmarks (roundtrip.ts, cold-read.ts): fusebench's own daemons through
 * its CLI and peer daemons from their binaries, each with a stop() that unmounts and returns what
 * the daemon said on stderr.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const START_MS = 20_000;
/** Where the peers setup installs erofsfuse (built from Debian's source package). */
const PEER_EROFSFUSE = '/opt/fusebench/peers/erofs-utils/bin/erofsfuse';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const projectPath = (path: string): string => join(ROOT, path);

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
  let child: ResultPromise;
  try {
    child = execa(process.execPath, [CLI, 'mount', image, mountpoint, ...args, '--facts-file', factsFile], {
      reject: false,
      stdin: 'ignore',
      env: daemonEnvironment(),
      extendEnv: false,
    });
    for (let waited = 0; waited < START_MS && !existsSync(factsFile) && child.exitCode === null; waited += 20)
      await sleep(20);
  } finally {
    if (old !== null) setFuseIoUring(old);
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
  const child = execa(binary, args, { reject: false, stdin: 'ignore' });
  for (let waited = 0; waited < START_MS && !findMount(mountpoint) && child.exitCode === null; waited += 20)
    await sleep(20);
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
