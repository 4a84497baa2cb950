import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { MountFlags, syscalls } from '../../lib/syscalls.js';
import { createRun } from '../../runners/cleanup.js';
import { processStartTime } from '../../runners/processes.js';

/**
 * A stand-in for a run that gets SIGKILLed: it creates a run with a mount and a detached
 * "daemon" on its journal, says where, and waits to be killed.
 */
const { runDir, stack } = createRun(`test-leaky-${process.pid}`);
const mountpoint = `${runDir}/mnt/setup`;
mkdirSync(mountpoint, { recursive: true });
const daemon = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
daemon.unref();
stack.push({
  kind: 'process',
  pid: daemon.pid!,
  startTime: processStartTime(daemon.pid!)!,
  command: 'sleep (test daemon)',
});
syscalls.mount('fusebench-test', mountpoint, 'tmpfs', MountFlags.MS_NOSUID, 'size=1m');
stack.push({ kind: 'mount', path: mountpoint });
process.stdout.write(`${JSON.stringify({ mountpoint, daemonPid: daemon.pid })}\n`);
setInterval(() => {}, 1000);
