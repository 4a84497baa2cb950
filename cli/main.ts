#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { FatalError, UsageError } from '../lib/errors.js';
import { holdSignals, releaseSignals } from '../lib/signals.js';
import type { CommandEntry } from './command.js';

holdSignals();

/** Every subcommand, in the order `fusebench --help` lists them. */
const commands: CommandEntry[] = [
  {
    name: 'run',
    summary: 'measure setups × workloads × cache states and write a result file (default: quick profile)',
    load: async () => (await import('./commands/run.js')).command,
  },
  {
    name: 'erofs',
    summary: 'read an EROFS image with the TypeScript reader: info, ls, stat, cat, walk --json',
    load: async () => (await import('./commands/erofs.js')).command,
  },
  {
    name: 'report',
    summary: 'write summary.txt/.md, results.csv, index.html and PNG charts from result files',
    load: async () => (await import('./commands/report.js')).command,
  },
  {
    name: 'compare',
    summary: 'compare two result files; exit status 1 when something got slower',
    load: async () => (await import('./commands/compare.js')).command,
  },
  {
    name: 'history',
    summary: 'medians over several result files in kernel version order (one per kernel release)',
    load: async () => (await import('./commands/history.js')).command,
  },
  {
    name: 'doctor',
    summary: 'check this machine (root, /dev/fuse, erofs, tracefs, tools) and say what to install',
    load: async () => (await import('./commands/doctor.js')).command,
  },
  {
    name: 'mount',
    summary: 'serve an EROFS image over FUSE with fusebench’s own reader (foreground daemon)',
    load: async () => (await import('./commands/mount.js')).command,
  },
  {
    name: 'passthrough',
    summary: 'serve a directory read-only over FUSE, the no-decoding baseline (foreground daemon)',
    load: async () => (await import('./commands/passthrough.js')).command,
  },
  {
    name: 'umount',
    summary: 'unmount a FUSE mount (also a dead one) and wait for its fusebench daemon to end',
    load: async () => (await import('./commands/umount.js')).command,
  },
  {
    name: 'cleanup',
    summary: 'undo what killed runs left behind (mounts, loop devices, daemons, tracefs)',
    load: async () => (await import('./commands/cleanup.js')).command,
  },
];

function usage(): string {
  const width = Math.max(...commands.map((entry) => entry.name.length));
  const lines = commands.map((entry) => `  ${entry.name.padEnd(width)}  ${entry.summary}`);
  return `usage: fusebench <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nfusebench <command> --help shows a command's options.\n`;
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    releaseSignals();
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    releaseSignals();
    process.stdout.write(`fusebench ${version()}\n`);
    return 0;
  }
  const entry = commands.find((candidate) => candidate.name === name);
  if (!entry) throw new UsageError(`unknown command '${name}' (try: fusebench --help)`);
  const command = await entry.load();
  if (!command.handlesSignals) releaseSignals();
  return command.run(rest);
}

/**
 * Set once the reader of stdout has gone, as when output is piped into `head`: the rest of the
 * output is dropped quietly (no EPIPE stack trace) and the command ends with status 0. Commands
 * with resources to undo (run) are not cut short: only their writes to stdout fail.
 */
let stdoutGone = false;

function isClosedPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || (stdoutGone && code === 'ERR_STREAM_DESTROYED');
}

for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      if (stream === process.stdout) stdoutGone = true;
      return;
    }
    // Any other failure of stdout or stderr: nowhere left to report it in full.
    process.exitCode = 1;
  });
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    if (isClosedPipe(error)) {
      process.exitCode = 0;
    } else if (error instanceof UsageError) {
      process.stderr.write(`fusebench: ${error.message}\n`);
      process.exitCode = 2;
    } else if (error instanceof FatalError) {
      process.stderr.write(`fusebench: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(
        `fusebench: internal error: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
      process.exitCode = 70;
    }
  },
);
