import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findMount, unmount } from '../lib/mounts.js';
import {
  acquireTracefs,
  INSTANCE_PREFIX,
  mountTracefs,
  releaseTracefs,
  removeTracefsInstance,
  TRACEFS,
  tracefsMounted,
} from '../lib/tracefs.js';
import { fusebench } from './helpers/cli.js';

/**
 * Two runs at once: the second is refused with a message naming the first (or queues behind it
 * with --wait), an interrupted first run takes only its own tracing instance with it, and a
 * tracefs that fusebench mounted is unmounted only once no fusebench instance is left in it.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const instanceOf = (pid: number) => join(TRACEFS, 'instances', `${INSTANCE_PREFIX}${pid}`);

async function until(what: string, condition: () => boolean, ms = 120_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 100) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('one run at a time per machine', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'fusebench-lock-'));
  const runArgs = (name: string) => [
    'run',
    '--profile',
    'tiny',
    '--setups',
    'kernel-erofs,fuse-erofs-ts',
    '--workloads',
    'stat-all',
    '--cache',
    'warm',
    // Far more than the test lets run (each run ends by SIGINT): the first must still hold the
    // machine after two more command starts, however fast its daemons start and serve.
    '--repetitions',
    '1000',
    '--no-floor',
    '--cache-dir',
    cacheDir,
    '--output',
    join(cacheDir, `${name}.json`),
  ];
  const tracefsBefore = tracefsMounted();

  after(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('a second run is refused naming the first, --wait queues behind it, SIGINT leaves no instance', async () => {
    const first = fusebench(runArgs('first'));
    await until('the first run to trace', () => existsSync(instanceOf(first.pid!)));

    const refused = await fusebench(runArgs('refused'));
    assert.equal(refused.exitCode, 1, String(refused.stderr));
    assert.match(
      String(refused.stderr),
      new RegExp(`^fusebench: another fusebench run holds this machine \\(pid ${first.pid},.*--wait`),
    );
    assert.equal(existsSync(join(cacheDir, 'refused.json')), false, 'the refused run wrote nothing');

    const queued = fusebench([...runArgs('queued'), '--wait']);
    let queuedStderr = '';
    queued.stderr?.on('data', (chunk: Buffer) => {
      queuedStderr += chunk.toString();
    });
    await until('the queued run to say whom it waits for', () => queuedStderr.includes('waiting for'));
    assert.match(
      queuedStderr,
      new RegExp(`waiting for the run that holds this machine \\(pid ${first.pid},`),
    );

    first.kill('SIGINT');
    const firstDone = await first;
    assert.equal(firstDone.exitCode, 130, String(firstDone.stderr));
    assert.doesNotMatch(String(firstDone.stderr), /internal error/);
    assert.equal(existsSync(instanceOf(first.pid!)), false, "the first run's instance is gone");

    // The queued run now holds the machine and traces in its own instance.
    await until('the queued run to trace', () => existsSync(instanceOf(queued.pid!)));
    assert.ok(tracefsMounted(), 'tracefs stays mounted while the queued run traces');
    queued.kill('SIGINT');
    const queuedDone = await queued;
    assert.equal(queuedDone.exitCode, 130, String(queuedDone.stderr));
    assert.equal(existsSync(instanceOf(queued.pid!)), false);
    assert.equal(tracefsMounted(), tracefsBefore, 'tracefs is left mounted or unmounted as it was found');
  });
});

describe('tracefs shared between fusebench users', () => {
  let skip: string | false = false;
  const mountedBefore = tracefsMounted();
  const ours = join(TRACEFS, 'instances', `${INSTANCE_PREFIX}test-${process.pid}`);
  const other = join(TRACEFS, 'instances', `${INSTANCE_PREFIX}test-other-${process.pid}`);
  before(() => {
    if (tracefsMounted()) skip = 'tracefs is mounted by someone else here; these cases need it unmounted';
    if (skip && process.env.CI === 'true') skip = false;
  });
  after(async () => {
    for (const instance of [ours, other]) if (tracefsMounted()) await removeTracefsInstance(instance);
    if (mountedBefore && !tracefsMounted()) mountTracefs();
  });

  it('is unmounted by the last user out, not while another instance lives in it', async (t) => {
    if (skip) return t.skip(skip);
    if (tracefsMounted()) {
      // CI: make the machine state this case is about (nobody had mounted tracefs).
      assert.equal(findMount(TRACEFS)?.fstype, 'tracefs');
      await unmount(TRACEFS);
    }
    assert.equal(acquireTracefs(), true, 'fusebench mounted it');
    mkdirSync(ours);
    assert.equal(acquireTracefs(), true, 'a second user sees that fusebench mounted it');
    mkdirSync(other);
    await removeTracefsInstance(ours);
    await releaseTracefs();
    assert.ok(tracefsMounted(), 'still mounted: another instance lives in it');
    assert.ok(existsSync(other), 'and that instance is untouched');
    await removeTracefsInstance(other);
    await releaseTracefs();
    assert.equal(tracefsMounted(), false, 'the last user out unmounted it');
  });

  it('an instance left while tracefs was unmounted is still removed', async (t) => {
    if (skip) return t.skip(skip);
    acquireTracefs();
    mkdirSync(ours);
    // Someone unmounts tracefs under us: the instance lives on in the kernel.
    await unmount(TRACEFS);
    await removeTracefsInstance(ours);
    assert.equal(tracefsMounted(), false, 'removing it left tracefs as it found it');
    acquireTracefs();
    assert.equal(existsSync(ours), false, 'the instance is gone from the kernel');
    await releaseTracefs();
    assert.equal(tracefsMounted(), false);
  });
});
