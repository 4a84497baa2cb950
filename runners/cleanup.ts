import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pruneDaemonRecords } from '../fuse/daemon.js';
import { detachLoop, loopDevicesOf } from '../lib/loop-devices.js';
import { isMounted, readMountInfo, unmount } from '../lib/mounts.js';
import { releaseTracefs, removeTracefsInstance } from '../lib/tracefs.js';
import { markKilled } from '../results/store.js';
import { processStartTime, stopProcess } from './processes.js';

/**
 * Everything a run creates or changes on the machine (mounts, loop devices, daemons, tracefs
 * instances, module parameters, its run directory) is pushed on one stack the moment it exists and undone newest first, on
 * success, failure and signals. Each step swallows its own failure so one stuck umount cannot
 * leak the rest. The stack is mirrored in a journal file, so `fusebench cleanup` can undo what
 * a SIGKILLed run left, and only that: it touches nothing it has no journal entry for.
 */

export type Resource =
  | { kind: 'mount'; path: string }
  | { kind: 'loop'; device: string; backingFile: string }
  | { kind: 'process'; pid: number; startTime: number; command: string }
  | { kind: 'tracefs-instance'; path: string }
  | { kind: 'tracefs-mount'; path: string }
  | { kind: 'directory'; path: string }
  | { kind: 'result-file'; path: string }
  /** A kernel module parameter the run changed, and the value to put back. */
  | { kind: 'module-parameter'; path: string; previous: string };

interface JournalEntry {
  id: number;
  resource: Resource;
}

interface Journal {
  /** The process that owns the run; a journal whose owner is gone belongs to a killed run. */
  ownerPid: number;
  ownerStartTime: number;
  entries: JournalEntry[];
}

/** Where runs keep their mount points and journals. Not a user path: never mounted over anything else. */
export const RUNS_ROOT = process.env.FUSEBENCH_RUNS ?? '/run/fusebench';

export interface Handle {
  readonly id: number;
}

export class CleanupStack {
  private readonly steps: { id: number; resource: Resource; undo: () => Promise<void> }[] = [];
  private nextId = 1;

  constructor(private readonly journalPath: string) {
    this.writeJournal();
  }

  /** Records a resource that now exists and how to undo it. */
  push(resource: Resource, undo: () => Promise<void> = () => undoResource(resource)): Handle {
    const id = this.nextId++;
    this.steps.push({ id, resource, undo });
    this.writeJournal();
    return { id };
  }

  /** The resource went away by the normal path (unmounted, daemon exited): forget it. */
  release(handle: Handle): void {
    const index = this.steps.findIndex((step) => step.id === handle.id);
    if (index >= 0) this.steps.splice(index, 1);
    this.writeJournal();
  }

  /** What is recorded now, oldest first. */
  resources(): readonly Resource[] {
    return this.steps.map((step) => step.resource);
  }

  /**
   * Undoes everything still recorded, newest first; never throws. What could not be undone stays
   * in the journal, and so does the run directory holding it, for `fusebench cleanup` to retry.
   */
  async unwind(): Promise<string[]> {
    const failures: string[] = [];
    for (let index = this.steps.length - 1; index >= 0; index--) {
      const step = this.steps[index]!;
      if (step.resource.kind === 'directory' && failures.length > 0) continue;
      try {
        await step.undo();
        this.steps.splice(index, 1);
        this.writeJournal();
      } catch (error) {
        failures.push(
          `${describeResource(step.resource)}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return failures;
  }

  private writeJournal(): void {
    // Once the run directory itself is undone there is nothing left to record.
    if (!existsSync(dirname(this.journalPath))) return;
    const journal: Journal = {
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid) ?? 0,
      entries: this.steps.map(({ id, resource }) => ({ id, resource })),
    };
    const temporary = `${this.journalPath}.tmp`;
    writeFileSync(temporary, JSON.stringify(journal, null, 1));
    renameSync(temporary, this.journalPath);
  }
}

export function describeResource(resource: Resource): string {
  switch (resource.kind) {
    case 'mount':
      return `mount ${resource.path}`;
    case 'loop':
      return `loop device ${resource.device} (${resource.backingFile})`;
    case 'process':
      return `process ${resource.pid} (${resource.command})`;
    case 'tracefs-instance':
      return `tracefs instance ${resource.path}`;
    case 'tracefs-mount':
      return `tracefs mount ${resource.path}`;
    case 'directory':
      return `directory ${resource.path}`;
    case 'result-file':
      return `result file ${resource.path} (marked killed if it was still running)`;
    case 'module-parameter':
      return `module parameter ${resource.path} (back to ${resource.previous})`;
  }
}

/** Undoes one resource if it still exists as recorded; a resource already gone is not an error. */
export async function undoResource(resource: Resource): Promise<void> {
  switch (resource.kind) {
    case 'mount':
      await unmount(resource.path);
      if (isMounted(resource.path)) throw new Error('still mounted');
      return;
    case 'loop':
      if ((await loopDevicesOf(resource.backingFile)).includes(resource.device))
        await detachLoop(resource.device);
      return;
    case 'process':
      if (processStartTime(resource.pid) === resource.startTime) await stopProcess(resource.pid);
      // A fusebench daemon that dropped root could not remove its record; those of ended daemons go.
      pruneDaemonRecords();
      return;
    case 'tracefs-instance':
      await removeTracefsInstance(resource.path);
      return;
    case 'tracefs-mount':
      await releaseTracefs();
      return;
    case 'directory':
      removeRunDirectory(resource.path);
      return;
    case 'result-file':
      markKilled(resource.path);
      return;
    case 'module-parameter':
      // Only module parameters: a journal is a file, and cleanup must not write elsewhere in sysfs from it.
      if (!resource.path.startsWith('/sys/module/')) throw new Error('not a module parameter');
      writeFileSync(resource.path, resource.previous);
      return;
  }
}

/** Removes a run directory, but never one with a mount left inside: that would delete through the mount. */
function removeRunDirectory(path: string): void {
  if (!path.startsWith(`${RUNS_ROOT}/`)) throw new Error(`not a run directory (outside ${RUNS_ROOT})`);
  const inside = readMountInfo().filter((entry) => entry.mountpoint.startsWith(`${path}/`));
  if (inside.length > 0)
    throw new Error(`still has mounts inside: ${inside.map((entry) => entry.mountpoint).join(', ')}`);
  rmSync(path, { recursive: true, force: true });
}

/** Creates the directory of a new run and its cleanup stack (which removes the directory last). */
export function createRun(runId: string): { runDir: string; stack: CleanupStack } {
  const runDir = join(RUNS_ROOT, runId);
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const stack = new CleanupStack(join(runDir, 'journal.json'));
  stack.push({ kind: 'directory', path: runDir });
  return { runDir, stack };
}

export interface Leftover {
  runDir: string;
  ownerPid: number;
  resources: Resource[];
}

function readJournal(runDir: string): Journal | null {
  try {
    return JSON.parse(readFileSync(join(runDir, 'journal.json'), 'utf8')) as Journal;
  } catch {
    return null;
  }
}

/** Runs whose owner process is gone (killed), with what their journals still list. */
export function findLeftovers(): Leftover[] {
  if (!existsSync(RUNS_ROOT)) return [];
  const leftovers: Leftover[] = [];
  for (const name of readdirSync(RUNS_ROOT)) {
    const runDir = join(RUNS_ROOT, name);
    const journal = readJournal(runDir);
    if (journal && processStartTime(journal.ownerPid) === journal.ownerStartTime) continue;
    leftovers.push({
      runDir,
      ownerPid: journal?.ownerPid ?? 0,
      resources: (journal?.entries ?? []).map((entry) => entry.resource),
    });
  }
  return leftovers;
}

/** Undoes every leftover of killed runs, newest first per run; returns what it did and what failed. */
export async function cleanLeftovers(
  leftovers = findLeftovers(),
): Promise<{ undone: string[]; failed: string[] }> {
  const undone: string[] = [];
  const failed: string[] = [];
  for (const leftover of leftovers) {
    const resources = [...leftover.resources].reverse();
    if (!resources.some((resource) => resource.kind === 'directory'))
      resources.push({ kind: 'directory', path: leftover.runDir });
    let failedHere = false;
    for (const resource of resources) {
      // The journal in the run directory still lists what failed: keep it for the next cleanup.
      if (resource.kind === 'directory' && failedHere) continue;
      try {
        await undoResource(resource);
        undone.push(describeResource(resource));
      } catch (error) {
        failedHere = true;
        failed.push(
          `${describeResource(resource)}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
  return { undone, failed };
}
