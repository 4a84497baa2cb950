import { join, resolve } from 'node:path';
import { defaultCacheDir } from '../../datasets/dataset.js';
import { removeStaleRootfsBuilds } from '../../datasets/debian-rootfs.js';
import { removeStalePartials } from '../../datasets/image.js';
import { pruneDaemonRecords } from '../../fuse/daemon.js';
import { orphanInstances, releaseTracefs, removeTracefsInstance } from '../../lib/tracefs.js';
import { cleanLeftovers, describeResource, findLeftovers, RUNS_ROOT } from '../../runners/cleanup.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { requireRoot } from '../preconditions.js';

/** `fusebench cleanup`: undoes what killed runs left (mounts, loop devices, daemons, tracefs), and nothing else. */
export const command: Command = {
  async run(argv) {
    const { values } = parseCommandArgs(
      'cleanup',
      argv,
      {
        'dry-run': { type: 'boolean', short: 'n' },
        'cache-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      { min: 0, max: 0, usage: 'cleanup [--dry-run] [--cache-dir DIR]' },
    );
    if (values.help) {
      process.stdout.write(
        `usage: fusebench cleanup [--dry-run] [--cache-dir DIR]\n\n  Lists and removes what runs that were killed left behind, from their journals in ${RUNS_ROOT},\n  and images and Debian root filesystems half-built by killed runs in the cache (default ${defaultCacheDir}).\n  Runs still alive and anything fusebench did not create are left alone.\n`,
      );
      return 0;
    }
    requireRoot('cleanup');
    const leftovers = findLeftovers();
    if (!values['dry-run']) {
      const records = pruneDaemonRecords();
      if (records > 0) process.stdout.write(`removed ${records} record(s) of FUSE daemons that are gone\n`);
      for (const orphan of orphanInstances()) {
        await removeTracefsInstance(orphan);
        process.stdout.write(`removed tracefs instance ${orphan} (its run is gone)\n`);
      }
      await releaseTracefs();
      const cacheDir = resolve(values['cache-dir'] ?? defaultCacheDir);
      for (const partial of [
        ...removeStalePartials(join(cacheDir, 'images')),
        ...(await removeStaleRootfsBuilds(cacheDir)),
      ])
        process.stdout.write(`removed ${partial} (a build killed before it finished)\n`);
    }
    if (leftovers.length === 0) {
      process.stdout.write('nothing to clean up\n');
      return 0;
    }
    for (const leftover of leftovers) {
      process.stdout.write(`${leftover.runDir} (run by pid ${leftover.ownerPid}, gone):\n`);
      for (const resource of leftover.resources) process.stdout.write(`  ${describeResource(resource)}\n`);
    }
    if (values['dry-run']) return 0;
    const { failed } = await cleanLeftovers(leftovers);
    for (const failure of failed) process.stderr.write(`fusebench: cleanup: ${failure}\n`);
    process.stdout.write(failed.length === 0 ? 'cleaned up\n' : `${failed.length} left behind\n`);
    return failed.length === 0 ? 0 : 1;
  },
};
