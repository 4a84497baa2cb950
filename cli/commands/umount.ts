import { unmountDaemon } from '../../fuse/daemon.js';
import { UsageError } from '../../lib/errors.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { requireRoot } from '../preconditions.js';

/** `fusebench umount MOUNTPOINT`: unmounts a FUSE mount and waits for the fusebench daemon behind it to end. */
export const command: Command = {
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'umount',
      argv,
      { help: { type: 'boolean', short: 'h' } },
      { min: 0, max: 1, usage: 'umount MOUNTPOINT' },
    );
    if (values.help) {
      process.stdout.write(
        'usage: fusebench umount MOUNTPOINT\n\n  Unmounts a FUSE mount (also one whose daemon died) and, when a fusebench daemon served it,\n  waits for that daemon to exit (stopping it if it does not).\n',
      );
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError('umount: expected 1 argument; usage: fusebench umount MOUNTPOINT');
    }
    requireRoot('umount');
    const { mountpoint, daemon } = await unmountDaemon(positionals[0]!);
    process.stderr.write(`fusebench: unmounted ${mountpoint}${daemon ? ` (daemon ${daemon} ended)` : ''}\n`);
    return 0;
  },
};
