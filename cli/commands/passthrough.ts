import type { Command } from '../command.js';
import { daemonCommand } from './mount.js';

/** `fusebench passthrough SOURCE_DIR MOUNTPOINT`: the same daemon as `mount`, serving a directory. */
export const command: Command = daemonCommand('passthrough');
