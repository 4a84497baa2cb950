import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { execa } from 'execa';
import { NATIVE_DRIVER } from '../../bench/measure/client-processes.js';
import { mkfsErofsVersion } from '../../datasets/image.js';
import { kernelHasFilesystem } from '../../lib/mounts.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { checkPeers } from '../peer-checks.js';

/** `fusebench doctor`: what this machine can and cannot measure, and what to install. */

interface Check {
  name: string;
  /** Required checks fail the command; optional ones only disable a setup or feature. */
  required: boolean;
  run(): Promise<{ ok: boolean; detail: string }>;
}

const which = async (command: string) => (await execa('which', [command], { reject: false })).exitCode === 0;
const found = (ok: boolean, yes: string, no: string) => ({ ok, detail: ok ? yes : no });

const checks: Check[] = [
  {
    name: 'root',
    required: true,
    run: async () => found(process.getuid?.() === 0, 'running as root', 'not root: run with sudo'),
  },
  {
    name: '/dev/fuse',
    required: true,
    run: async () => {
      try {
        accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
        return { ok: true, detail: 'present and accessible' };
      } catch {
        return { ok: false, detail: 'missing or not accessible: modprobe fuse' };
      }
    },
  },
  {
    name: 'kernel erofs',
    required: true,
    run: async () =>
      found(
        kernelHasFilesystem('erofs'),
        'erofs in /proc/filesystems',
        'no erofs: modprobe erofs (CONFIG_EROFS_FS)',
      ),
  },
  {
    name: 'kernel fuse',
    required: true,
    run: async () =>
      found(kernelHasFilesystem('fuse'), 'fuse in /proc/filesystems', 'no fuse: modprobe fuse'),
  },
  {
    name: 'mkfs.erofs',
    required: true,
    run: async () => {
      const version = await mkfsErofsVersion();
      return found(version !== null, `erofs-utils ${version}`, 'missing: apt-get install erofs-utils');
    },
  },
  {
    name: 'libfuse 2 (fuse-native)',
    required: true,
    run: async () => {
      try {
        createRequire(import.meta.url)('fuse-native');
        return { ok: true, detail: 'fuse-native loads libfuse.so.2' };
      } catch (error) {
        return {
          ok: false,
          detail: `fuse-native does not load (${(error as Error).message.split('\n')[0]}): apt-get install libfuse2`,
        };
      }
    },
  },
  {
    name: 'native addon and driver',
    required: true,
    run: async () =>
      found(existsSync(NATIVE_DRIVER), 'built', 'not built: npm rebuild (needs build-essential, python3)'),
  },
  {
    name: 'drop_caches',
    required: true,
    run: async () => {
      try {
        accessSync('/proc/sys/vm/drop_caches', constants.W_OK);
        return { ok: true, detail: 'writable (cold runs possible)' };
      } catch {
        return { ok: false, detail: '/proc/sys/vm/drop_caches not writable: cold runs impossible' };
      }
    },
  },
  {
    name: 'tracefs fuse events',
    required: false,
    run: async () => {
      const mounted = existsSync('/sys/kernel/tracing/events');
      if (mounted)
        return found(
          existsSync('/sys/kernel/tracing/events/fuse/fuse_request_send'),
          'fuse:fuse_request_send/end available',
          'this kernel has no fuse tracepoints: FUSE opcode counts unavailable',
        );
      return {
        ok: true,
        detail: 'tracefs not mounted; runs mount it at /sys/kernel/tracing and unmount it after',
      };
    },
  },
  {
    name: 'GNU time',
    required: true,
    run: async () =>
      found(
        existsSync('/usr/bin/time'),
        '/usr/bin/time',
        'missing: apt-get install time (scenario workloads)',
      ),
  },
  {
    name: 'tar, xargs',
    required: true,
    run: async () =>
      found(
        (await which('tar')) && (await which('xargs')),
        'present',
        'missing: apt-get install tar findutils',
      ),
  },
  {
    name: 'FUSE passthrough',
    required: false,
    run: async () => {
      const [major = 0, minor = 0] = release()
        .split('.')
        .map((part) => Number.parseInt(part, 10));
      return found(
        major > 6 || (major === 6 && minor >= 9),
        `Linux ${release()} has FOPEN_PASSTHROUGH`,
        `Linux ${release()} < 6.9: fuse-passthrough-kernel skipped`,
      );
    },
  },
  {
    name: 'squashfuse',
    required: false,
    run: async () =>
      found(await which('squashfuse'), 'installed', 'missing: apt-get install squashfuse (setup skipped)'),
  },
  {
    name: 'mksquashfs',
    required: false,
    run: async () =>
      found(
        await which('mksquashfs'),
        'installed',
        'missing: apt-get install squashfs-tools (squashfs setups skipped)',
      ),
  },
  {
    name: 'fio',
    required: false,
    run: async () => found(await which('fio'), 'installed', 'missing: apt-get install fio'),
  },
  {
    name: 'chromium',
    required: false,
    run: async () =>
      found(
        existsSync('/usr/bin/chromium'),
        '/usr/bin/chromium (report PNGs)',
        'missing: apt-get install chromium (report PNGs skipped)',
      ),
  },
];

export const command: Command = {
  async run(argv) {
    const { values } = parseCommandArgs(
      'doctor',
      argv,
      { help: { type: 'boolean', short: 'h' } },
      { min: 0, max: 0, usage: 'doctor' },
    );
    if (values.help) {
      process.stdout.write(
        'usage: fusebench doctor\n\n  Checks what this machine needs for fusebench and says what to install.\n  As root it also mounts each reference daemon (erofsfuse, passthrough_hp, their io_uring\n  variants) and reads a file through it.\n',
      );
      return 0;
    }
    let failed = 0;
    for (const check of checks) {
      const { ok, detail } = await check.run();
      const mark = ok ? 'ok  ' : check.required ? 'FAIL' : 'skip';
      if (!ok && check.required) failed++;
      process.stdout.write(`${mark}  ${check.name.padEnd(30)} ${detail}\n`);
    }
    // The peers are optional, but one that is installed and does not serve is broken.
    if (process.getuid?.() === 0) {
      for (const peer of await checkPeers()) {
        if (peer.state === 'fail') failed++;
        const mark = { ok: 'ok  ', skip: 'skip', fail: 'FAIL' }[peer.state];
        process.stdout.write(`${mark}  ${peer.name.padEnd(30)} ${peer.detail}\n`);
      }
    }
    process.stdout.write(
      failed === 0
        ? '\nready: npx fusebench run\n'
        : `\n${failed} required check${failed > 1 ? 's' : ''} failed (./setup.sh installs the packages)\n`,
    );
    return failed === 0 ? 0 : 1;
  },
};
