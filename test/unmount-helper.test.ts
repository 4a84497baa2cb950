import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { findMount, unmount } from '../lib/mounts.js';
import { startUnmountHelper } from '../lib/privileges.js';
import { syscalls } from '../lib/syscalls.js';

/**
 * The pid of the helper shell for `mountpoint` (`fusebench-unmount MOUNTPOINT` in its command
 * line). Polled: posix_spawn returns once the child is in execve, before the kernel has set up
 * the new program's command line.
 */
async function helperPid(mountpoint: string): Promise<number> {
  for (let waited = 0; waited < 5000; waited += 5) {
    const pid = readdirSync('/proc').find((name) => {
      if (!/^\d+$/.test(name)) return false;
      try {
        const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        return argv.includes('fusebench-unmount') && argv.includes(mountpoint);
      } catch {
        return false;
      }
    });
    if (pid) return Number(pid);
    await delay(5);
  }
  throw new Error(`no helper shell for ${mountpoint}`);
}

/** A zombie still has its /proc entry: alive here means not yet exited. */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function tmpfsMount(t: { after(fn: () => unknown): void }): string {
  const mountpoint = mkdtempSync(join(tmpdir(), 'fusebench-helper-'));
  syscalls.mount('fusebench-helper-test', mountpoint, 'tmpfs', 0, 'size=1m');
  t.after(async () => {
    if (findMount(mountpoint)) await unmount(mountpoint);
    rmSync(mountpoint, { recursive: true, force: true });
  });
  return mountpoint;
}

test('the unmount helper detaches its mount when told, and is reaped', async (t) => {
  const mountpoint = tmpfsMount(t);
  const helper = startUnmountHelper(mountpoint);
  const pid = await helperPid(mountpoint);
  assert.ok(findMount(mountpoint), 'nothing unmounts before it is told');
  await helper.unmount();
  assert.equal(findMount(mountpoint), undefined);
  assert.equal(readdirSync('/proc').includes(String(pid)), false, 'no zombie is left');
  // Told again, it has nothing left to do.
  await helper.unmount();
});

test('released, the unmount helper ends without unmounting', async (t) => {
  const mountpoint = tmpfsMount(t);
  const helper = startUnmountHelper(mountpoint);
  const pid = await helperPid(mountpoint);
  helper.release();
  for (let waited = 0; running(pid) && waited < 5000; waited += 10) await delay(10);
  assert.equal(running(pid), false, 'the shell ended on its closed pipe');
  assert.ok(findMount(mountpoint), 'the mount is still there');
  assert.equal(syscalls.reapChild(pid), 1, "`read` failed at the pipe's end, so the shell exits 1");
});

test('a helper killed before it was told ends the stop all the same', async (t) => {
  const mountpoint = tmpfsMount(t);
  const helper = startUnmountHelper(mountpoint);
  const pid = await helperPid(mountpoint);
  process.kill(pid, 'SIGINT');
  // No EPIPE escapes, and the wait for the shell ends.
  await helper.unmount();
  assert.ok(findMount(mountpoint), 'nothing unmounted it');
});

test('spawnWithInput refuses bad arguments in one line, and reports a missing program', () => {
  assert.throws(() => syscalls.spawnWithInput('/bin/sh', []), /1 to 16 strings/);
  assert.throws(() => syscalls.spawnWithInput('/bin/sh', Array(17).fill('x')), /1 to 16 strings/);
  assert.throws(() => syscalls.spawnWithInput('/nonexistent/fusebench', ['x']), { code: 'ENOENT' });
});
