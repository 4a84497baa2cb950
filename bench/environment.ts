import { readdirSync, readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem, version } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { mkfsErofsVersion } from '../datasets/image.js';
import type { Fact } from '../fuse/transport.js';
import { debianPackageVersions } from '../lib/packages.js';
import type { Environment, SetupRecord } from '../results/schema.js';
import { calibrateNodeClient } from './calibrate.js';
import { loadState } from './measure/machine-load.js';

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
  return (
    /\b(PREEMPT_RT|PREEMPT_DYNAMIC|PREEMPT)\b/.exec(version())?.[1] ?? 'none (PREEMPT_NONE or voluntary)'
  );
}

const PREEMPT_DEBUGFS = '/sys/kernel/debug/sched/preempt';

/**
 * The mode a PREEMPT_DYNAMIC kernel runs in. debugfs shows it; when debugfs is not mounted it is
 * mounted in a private mount namespace of a child (gone with the child, nothing to undo). Without
 * it, the preempt= boot option; a kernel without dynamic preemption has only its build model.
 */
async function preemptActive(cmdline: string): Promise<string | null> {
  const shown = read(PREEMPT_DEBUGFS);
  if (shown) return `${selected(shown)} (debugfs sched/preempt)`;
  const privately = await execa(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t debugfs debugfs /sys/kernel/debug && cat ${PREEMPT_DEBUGFS}`,
    ],
    { reject: false },
  );
  if (privately.exitCode === 0 && privately.stdout.trim() !== '')
    return `${selected(privately.stdout.trim())} (debugfs sched/preempt)`;
  const boot = /(?:^|\s)preempt=(\S+)/.exec(cmdline)?.[1];
  if (boot) return `${boot} (preempt= boot option)`;
  return null;
}

function cpuFrequencyMHz(): string | null {
  const cpus = cpuNames();
  const scaled = cpus.map((cpu) => read(`/sys/devices/system/cpu/${cpu}/cpufreq/scaling_cur_freq`));
  if (scaled.length > 0 && scaled.every((value) => value !== null))
    return scaled.map((khz) => Math.round(Number(khz) / 1000)).join(',');
  const reported = [...(read('/proc/cpuinfo') ?? '').matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((match) =>
    Math.round(Number(match[1])),
  );
  return reported.length > 0 ? `${reported.join(',')} (/proc/cpuinfo)` : null;
}

function cpuBoost(): string | null {
  const boost = read('/sys/devices/system/cpu/cpufreq/boost');
  if (boost !== null) return boost === '1' ? 'on' : 'off';
  const noTurbo = read('/sys/devices/system/cpu/intel_pstate/no_turbo');
  if (noTurbo !== null) return noTurbo === '1' ? 'off (intel_pstate no_turbo)' : 'on (intel_pstate)';
  return null;
}

function cpuNames(): string[] {
  try {
    return readdirSync('/sys/devices/system/cpu').filter((name) => /^cpu\d+$/.test(name));
  } catch {
    return [];
  }
}

function governor(): string | null {
  const governors = new Set<string>();
  for (const cpu of cpuNames()) {
    const value = read(`/sys/devices/system/cpu/${cpu}/cpufreq/scaling_governor`);
    if (value) governors.add(value);
  }
  return governors.size > 0 ? [...governors].join(',') : null;
}

/** Versions of what the setups and workloads run on, where the machine can tell. */
async function softwareVersions(): Promise<Record<string, Fact>> {
  const debian = ['libfuse2', 'fuse3', 'libfuse3-3', 'erofs-utils', 'erofsfuse', 'squashfuse', 'fio', 'tar'];
  const versions: Record<string, Fact> = await debianPackageVersions(debian);
  for (const name of ['fuse-native', 'simple-statistics']) versions[`npm.${name}`] = npmPackageVersion(name);
  return versions;
}

function npmPackageVersion(name: string): string | null {
  const text = read(fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url)));
  return text === null ? null : ((JSON.parse(text) as { version?: string }).version ?? null);
}

/**
 * The FUSE INIT parameters each FUSE setup negotiated, as its transport reported them in its
 * facts; null where the transport does not report them (so a reader sees the gap).
 */
export function fuseInitFacts(setups: readonly SetupRecord[]): Record<string, Fact> {
  const facts: Record<string, Fact> = {};
  for (const setup of setups.filter((record) => record.kind === 'fuse' && record.status === 'ok')) {
    const fact = (key: string) => setup.facts[key] ?? null;
    facts[`fuseInit.${setup.name}.transport`] = fact('transport');
    facts[`fuseInit.${setup.name}.flags`] = fact('initFlags');
    facts[`fuseInit.${setup.name}.maxPages`] = fact('maxPages');
    facts[`fuseInit.${setup.name}.maxReadahead`] = fact('maxReadahead');
    facts[`fuseInit.${setup.name}.maxRead`] =
      fact('maxRead') ?? /(?:^|,)max_read=(\d+)/.exec(String(fact('fuseOptions') ?? ''))?.[1] ?? null;
  }
  return facts;
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
  const kernelCmdline = read('/proc/cmdline') ?? '';
  // The child processes run side by side; the calibration (in-process, CPU-bound) after them.
  const [active, commit, mkfsVersion, versions, virtualization] = await Promise.all([
    preemptActive(kernelCmdline),
    gitCommit(),
    mkfsErofsVersion(),
    softwareVersions(),
    execa('systemd-detect-virt', [], { reject: false }),
  ]);
  return {
    hostname: hostname(),
    kernelRelease: release(),
    kernelVersion: version(),
    preemptModel: preemptModel(),
    preemptActive: active,
    kernelCmdline,
    cpuFrequencyMHz: cpuFrequencyMHz(),
    cpuBoost: cpuBoost(),
    loadAtStart: loadState(),
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cpus: processors.length,
    governor: governor(),
    smt: read('/sys/devices/system/cpu/smt/control'),
    memoryBytes: totalmem(),
    thp: selected(read('/sys/kernel/mm/transparent_hugepage/enabled')),
    nodeVersion: process.version,
    fusebenchVersion: fusebenchVersion(),
    gitCommit: commit,
    mkfsErofsVersion: mkfsVersion,
    facts: {
      ...versions,
      virtualization: virtualization.stdout.trim() || null,
      clocksource: read('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
      ...fuseModuleParameters(),
      ...(await calibrateNodeClient()),
    },
  };
}
