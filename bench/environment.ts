import { readdirSync, readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem, version } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { mkfsErofsVersion } from '../datasets/image.js';
import type { Fact } from '../fuse/transport.js';
import { debianPackageVersion } from '../lib/packages.js';
import type { Environment } from '../results/schema.js';
import { calibrateNodeClient } from './calibrate.js';

/** The machine a run measured, recorded once per result file: what a reader needs to judge the numbers. */

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The bracketed choice of a sysfs multiple-choice file ("always [madvise] never" → "madvise"). */
function selected(text: string | null): string | null {
  if (text === null) return null;
  return /\[([^\]]+)\]/.exec(text)?.[1] ?? text;
}

function preemptModel(): string | null {
  // debugfs shows the dynamic choice when mounted; uname -v always names the build-time model.
  const dynamic = selected(read('/sys/kernel/debug/sched/preempt'));
  if (dynamic) return dynamic;
  return (
    /\b(PREEMPT_RT|PREEMPT_DYNAMIC|PREEMPT)\b/.exec(version())?.[1] ?? 'none (PREEMPT_NONE or voluntary)'
  );
}

function governor(): string | null {
  const governors = new Set<string>();
  try {
    for (const cpu of readdirSync('/sys/devices/system/cpu').filter((name) => /^cpu\d+$/.test(name))) {
      const value = read(`/sys/devices/system/cpu/${cpu}/cpufreq/scaling_governor`);
      if (value) governors.add(value);
    }
  } catch {
    return null;
  }
  return governors.size > 0 ? [...governors].join(',') : null;
}

function fuseModuleParameters(): Record<string, Fact> {
  const facts: Record<string, Fact> = {};
  try {
    for (const name of readdirSync('/sys/module/fuse/parameters'))
      facts[`fuse.${name}`] = read(`/sys/module/fuse/parameters/${name}`);
  } catch {
    // fuse built without parameters exposed: nothing to record.
  }
  return facts;
}

async function gitCommit(): Promise<string | null> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const result = await execa('git', ['-C', root, 'rev-parse', 'HEAD'], { reject: false });
  if (result.exitCode !== 0) return null;
  const dirty = await execa('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], {
    reject: false,
  });
  return `${result.stdout.trim()}${dirty.stdout.trim() !== '' ? '-dirty' : ''}`;
}

export function fusebenchVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

export async function captureEnvironment(): Promise<Environment> {
  const processors = cpus();
  return {
    hostname: hostname(),
    kernelRelease: release(),
    kernelVersion: version(),
    preemptModel: preemptModel(),
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cpus: processors.length,
    governor: governor(),
    smt: read('/sys/devices/system/cpu/smt/control'),
    memoryBytes: totalmem(),
    thp: selected(read('/sys/kernel/mm/transparent_hugepage/enabled')),
    nodeVersion: process.version,
    fusebenchVersion: fusebenchVersion(),
    gitCommit: await gitCommit(),
    mkfsErofsVersion: await mkfsErofsVersion(),
    facts: {
      libfuse2: await debianPackageVersion('libfuse2'),
      fuse3: await debianPackageVersion('fuse3'),
      virtualization: (await execa('systemd-detect-virt', [], { reject: false })).stdout.trim() || null,
      clocksource: read('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
      ...fuseModuleParameters(),
      ...(await calibrateNodeClient()),
    },
  };
}
