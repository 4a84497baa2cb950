import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { pruneDaemonRecords } from '../fuse/daemon.js';
import type { Fact } from '../fuse/transport.js';
import { daemonEnvironment } from '../lib/daemon-environment.js';
import { FatalError } from '../lib/errors.js';
import { findMount, unmount } from '../lib/mounts.js';
import { backingDeviceFacts, mountFacts } from './facts.js';
import { MountingSetup } from './mounted-setup.js';
import { devFuseDescriptors, processStartTime, stopProcess, threadCensus, threadNames } from './processes.js';
import type { MountedSetup } from './setup.js';

/**
 * Setups served by a FUSE daemon process: ours (`fusebench mount`/`passthrough`) or an external
 * one (squashfuse, erofsfuse). The daemon runs in the foreground as our child; it is ready when
 * its mount shows in mountinfo (and, for ours, when its facts file exists).
 */

const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How to run the fusebench CLI itself as a daemon: the same node, the same build. */
export const fusebenchCli = [process.execPath, fileURLToPath(new URL('../cli/main.js', import.meta.url))];

export interface DaemonCommand {
  file: string;
  args: string[];
  /** For fusebench daemons: where they write their facts once serving. */
  factsFile: string | null;
  /** What the setup's description of the daemon should say in the facts. */
  label: string;
  /** File or directory the daemon reads from (for backing-device facts). */
  backing: string;
  /** What the setup knows about the daemon before it runs (program version, cache policy). */
  facts?: Record<string, Fact>;
}

export abstract class DaemonSetup extends MountingSetup {
  private daemon: ResultPromise | null = null;
  private stderrTail = '';

  protected abstract command(): Promise<DaemonCommand>;

  /**
   * Once the mount serves: checks that the daemon serves the way the setup promises (throwing
   * when not) and returns what it found, as facts. Nothing to check by default.
   */
  protected async checkServing(_pid: number): Promise<Record<string, Fact>> {
    return {};
  }

  protected async attach(): Promise<MountedSetup> {
    const command = await this.command();
    if (command.factsFile) rmSync(command.factsFile, { force: true });
    const cpus = this.context.daemonCpus;
    const [file, args] = cpus
      ? ['taskset', ['-c', cpus, command.file, ...command.args]]
      : [command.file, command.args];
    const daemon = execa(file, args, {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      reject: false,
      cleanup: false,
      env: daemonEnvironment(),
      extendEnv: false,
    });
    this.daemon = daemon;
    this.stderrTail = '';
    daemon.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000);
    });
    const pid = daemon.pid;
    if (pid === undefined) throw new FatalError(`${this.name}: could not start ${command.file}`);
    // taskset execs the daemon, so the pid is the daemon's from the start.
    const startTime = processStartTime(pid) ?? 0;
    this.handles.push(this.context.cleanup.push({ kind: 'process', pid, startTime, command: command.label }));
    this.handles.push(this.context.cleanup.push({ kind: 'mount', path: this.mountpoint }));
    await this.waitUntilServing(daemon, command);
    let servingFacts: Record<string, Fact>;
    try {
      servingFacts = await this.checkServing(pid);
    } catch (error) {
      await this.detach();
      throw error;
    }
    // What the threads setting gave: libfuse's multithreaded loop starts more on demand, which
    // each repetition's daemon usage counts (threads seen).
    const threads = threadNames(pid);
    const threadFacts: Record<string, Fact> = {
      daemonThreadsAtMount: threads.length,
      daemonThreadNamesAtMount: threadCensus(threads),
      devFuseDescriptorsAtMount: devFuseDescriptors(pid),
    };
    const daemonFacts: Record<string, Fact> = command.factsFile
      ? flattenFacts(JSON.parse(readFileSync(command.factsFile, 'utf8')) as Record<string, unknown>)
      : {};
    return {
      mountpoint: this.mountpoint,
      daemonPids: [pid],
      facts: {
        daemon: command.label,
        daemonCommand: [file, ...args].join(' '),
        daemonCpus: cpus,
        ...command.facts,
        ...daemonFacts,
        ...servingFacts,
        ...threadFacts,
        ...mountFacts(this.mountpoint),
        ...backingDeviceFacts(command.backing),
      },
    };
  }

  private async waitUntilServing(daemon: ResultPromise, command: DaemonCommand): Promise<void> {
    let exited = false;
    void daemon.then(() => {
      exited = true;
    });
    for (let waited = 0; waited < READY_TIMEOUT_MS; waited += 10) {
      const mounted = findMount(this.mountpoint)?.fstype.startsWith('fuse') ?? false;
      if (mounted && (!command.factsFile || existsSync(command.factsFile))) return;
      if (exited) break;
      await sleep(10);
    }
    const reason = exited
      ? lastLine(this.stderrTail) || 'exited without saying why'
      : `not serving after ${READY_TIMEOUT_MS / 1000} s`;
    await this.detach();
    throw new FatalError(`${this.name}: ${command.label} failed to mount: ${reason}`);
  }

  protected async detach(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = null;
    await unmount(this.mountpoint);
    if (!daemon?.pid) return;
    // The daemon would end by itself once it notices the unmount; SIGTERM makes it look now
    // (every cold repetition pays this wait), and SIGKILL follows for a stuck one.
    await stopProcess(daemon.pid, EXIT_TIMEOUT_MS);
    await daemon;
    // A daemon that dropped root cannot remove its own record; the records of ended daemons go now.
    pruneDaemonRecords();
  }
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .at(-1)
      ?.replace(/^fusebench: /, '') ?? ''
  );
}

/** Facts files may nest (INIT parameters); results keep one flat level with dotted keys. */
export function flattenFacts(value: Record<string, unknown>, prefix = ''): Record<string, Fact> {
  const facts: Record<string, Fact> = {};
  for (const [key, item] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      Object.assign(facts, flattenFacts(item as Record<string, unknown>, name));
    } else if (Array.isArray(item)) {
      facts[name] = item.join(',');
    } else if (item === null || ['string', 'number', 'boolean'].includes(typeof item)) {
      facts[name] = item as Fact;
    }
  }
  return facts;
}

/** The facts file path of a setup inside the run directory. */
export function factsFileOf(runDir: string, setup: string): string {
  return join(runDir, `${setup}.facts.json`);
}
