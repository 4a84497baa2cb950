import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { DAEMONS_DIR, pruneDaemonRecords } from '../fuse/daemon.js';
import { isMounted } from '../lib/mounts.js';
import { MountFlags, syscalls } from '../lib/syscalls.js';
import { cleanLeftovers, createRun, findLeftovers } from '../runners/cleanup.js';
import { isAlive, processStartTime } from '../runners/processes.js';
import { fusebench } from './helpers/cli.js';

/**
 * The lifecycle guarantees: what a run creates is undone by unwinding, and what a SIGKILLed run
 * leaves is found from its journal and undone by `fusebench cleanup`, nothing else.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cleanup stack', () => {
  it('unwinds a mount, a process and the run directory, newest first', async () => {
    const { runDir, stack } = createRun(`test-unwind-${process.pid}`);
    const mountpoint = `${runDir}/mnt`;
    mkdirSync(mountpoint);
    syscalls.mount('fusebench-test', mountpoint, 'tmpfs', MountFlags.MS_NOSUID, 'size=1m');
    stack.push({ kind: 'mount', path: mountpoint });
    const child = execa('sleep', ['600'], { reject: false });
    stack.push({
      kind: 'process',
      pid: child.pid!,
      startTime: processStartTime(child.pid!)!,
      command: 'sleep',
    });
    assert.deepEqual(await stack.unwind(), []);
    await child;
    assert.equal(isMounted(mountpoint), false);
    assert.equal(isAlive(child.pid!), false);
    assert.equal(existsSync(runDir), false);
  });

  it('never removes a run directory that still has a mount inside', async () => {
    const { runDir, stack } = createRun(`test-guard-${process.pid}`);
    const mountpoint = `${runDir}/mnt`;
    mkdirSync(mountpoint);
    syscalls.mount('fusebench-test', mountpoint, 'tmpfs', MountFlags.MS_NOSUID, 'size=1m');
    writeFileSync(`${mountpoint}/keep`, 'x');
    // The mount is deliberately not on the stack: unwinding must refuse, not delete through it.
    const failures = await stack.unwind();
    assert.match(failures.join('\n'), /still has mounts inside/);
    assert.equal(existsSync(`${mountpoint}/keep`), true);
    syscalls.umount2(mountpoint, 0);
    rmSync(runDir, { recursive: true });
  });
});

describe('fusebench cleanup after SIGKILL', () => {
  const script = fileURLToPath(new URL('./helpers/leaky-run.js', import.meta.url));
  after(async () => {
    await cleanLeftovers();
  });

  it('finds the killed run by its journal and undoes its mount and daemon', async () => {
    const child = execa(process.execPath, [script], { reject: false, stdout: 'pipe' });
    const line = await new Promise<string>((resolve) =>
      child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())),
    );
    const { mountpoint, daemonPid } = JSON.parse(line) as { mountpoint: string; daemonPid: number };
    assert.equal(isMounted(mountpoint), true);
    child.kill('SIGKILL');
    await child;
    await sleep(50);
    assert.ok(
      findLeftovers().some((leftover) =>
        leftover.resources.some((resource) => resource.kind === 'mount' && resource.path === mountpoint),
      ),
    );

    const listed = await fusebench(['cleanup', '--dry-run']);
    assert.equal(listed.exitCode, 0);
    assert.match(String(listed.stdout), new RegExp(`mount ${mountpoint}`));
    assert.equal(isMounted(mountpoint), true, 'a dry run changes nothing');

    const cleaned = await fusebench(['cleanup']);
    assert.equal(cleaned.exitCode, 0, String(cleaned.stderr));
    assert.equal(isMounted(mountpoint), false);
    assert.equal(isAlive(daemonPid), false);
    assert.equal(findLeftovers().length, 0);
    assert.match(String((await fusebench(['cleanup'])).stdout), /nothing to clean up/);
  });
});

describe('FUSE daemon records', () => {
  it("removes a dead daemon's record, and stray logs and temporaries only once a minute old", () => {
    mkdirSync(DAEMONS_DIR, { recursive: true });
    const id = `test-${process.pid}`;
    const path = (name: string) => join(DAEMONS_DIR, name);
    // A record of a process that is gone (pid 1's start time never matches this one).
    writeFileSync(path(`${id}-dead.json`), JSON.stringify({ pid: 1, startTime: -1, mountpoint: '/x' }));
    writeFileSync(path(`${id}-dead.log`), 'said something\n');
    writeFileSync(path(`${id}-stray-old.log`), '');
    writeFileSync(path(`.${id}-half.json.1.tmp`), '');
    writeFileSync(path(`${id}-stray-new.log`), '');
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of [`${id}-stray-old.log`, `.${id}-half.json.1.tmp`])
      utimesSync(path(name), hourAgo, hourAgo);
    try {
      assert.ok(pruneDaemonRecords() >= 1);
      const left = readdirSync(DAEMONS_DIR).filter((name) => name.includes(id));
      assert.deepEqual(left, [`${id}-stray-new.log`]);
    } finally {
      for (const name of readdirSync(DAEMONS_DIR).filter((entry) => entry.includes(id)))
        rmSync(path(name), { force: true });
    }
  });
});
