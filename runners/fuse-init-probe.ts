import { mkdirSync, rmdirSync } from 'node:fs';
import { execa } from 'execa';
import type { Fact } from '../fuse/transport.js';
import { findMount, unmount } from '../lib/mounts.js';
import type { CleanupStack } from './cleanup.js';
import { processStartTime, stopProcess } from './processes.js';

/**
 * What an external libfuse daemon negotiated in FUSE_INIT, which it reports nowhere else: libfuse's
 * own debug output of a short probe mount (the same program and options, plus debug), made before
 * the measured mounts so debug logging never runs while anything is timed. The reply's flags are
 * left out: libfuse 3.18 prints them before it has filled them in (do_init logs outarg.flags,
 * then assigns outargflags), so its "flags=" shows FUSE_MAX_PAGES at most. Whether kernel
 * passthrough and io_uring served is checked on the mount itself instead.
 */

const PROBE_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The INIT reply as libfuse's debug output prints it ("   INIT: 7.45", "   flags=0x...", ...). */
export function parseInitReply(debugOutput: string): Record<string, Fact> | null {
  const lines = debugOutput.split('\n');
  const start = lines.findIndex((line) => /^ {3}INIT: \d+\.\d+$/.test(line));
  if (start < 0) return null;
  const facts: Record<string, Fact> = { 'init.protocol': lines[start]!.trim().slice('INIT: '.length) };
  for (const line of lines.slice(start + 1)) {
    const field = /^ {3}(\w+)=(\S+)$/.exec(line);
    if (!field) break;
    const [, name, value] = field as unknown as [string, string, string];
    if (name === 'flags') continue;
    facts[`init.${name}`] = value.startsWith('0x') ? value : Number(value);
  }
  return facts;
}

export interface InitProbe {
  file: string;
  args: string[];
  mountpoint: string;
}

/** Mounts once with debug on, reads the INIT reply, unmounts; everything it creates goes on the cleanup stack. */
export async function probeInit(probe: InitProbe, cleanup: CleanupStack): Promise<Record<string, Fact>> {
  mkdirSync(probe.mountpoint, { recursive: true });
  const daemon = execa(probe.file, probe.args, {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    cleanup: false,
  });
  let output = '';
  daemon.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  daemon.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const pid = daemon.pid;
  if (pid === undefined) throw new Error(`could not start ${probe.file}`);
  const handles = [
    cleanup.push({
      kind: 'process',
      pid,
      startTime: processStartTime(pid) ?? 0,
      command: `${probe.file} (INIT probe)`,
    }),
    cleanup.push({ kind: 'mount', path: probe.mountpoint }),
  ];
  let exited = false;
  void daemon.then(() => {
    exited = true;
  });
  try {
    for (let waited = 0; waited < PROBE_TIMEOUT_MS && !exited; waited += 20) {
      if (findMount(probe.mountpoint) && parseInitReply(output)) break;
      await sleep(20);
    }
  } finally {
    await unmount(probe.mountpoint);
    await stopProcess(pid, 5000);
    await daemon;
    for (const handle of handles) cleanup.release(handle);
    rmdirSync(probe.mountpoint);
  }
  const reply = parseInitReply(output);
  if (!reply)
    throw new Error(`no INIT reply in its debug output (${output.trim().split('\n').at(-1) ?? 'none'})`);
  return reply;
}
