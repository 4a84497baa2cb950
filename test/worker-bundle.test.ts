import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { prestartServingThread, takePrestartedThread } from '../fuse/transports/devfuse-prestart.js';
import type { FromWorker, WorkerData } from '../fuse/transports/devfuse-worker.js';
import { workerBundleUrl } from '../fuse/transports/worker-bundle.js';
import { FatalError } from '../lib/errors.js';
import { CLI } from './helpers/cli.js';
import { unpackFixture } from './helpers/erofs-fixtures.js';

/**
 * The devfuse serving thread runs from the bundle `npm run build` makes: the build's own bundle is
 * current, and a missing or stale one is refused in one line before anything is mounted.
 */

describe('devfuse worker bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const transports = join(dir, 'fuse', 'transports');
  mkdirSync(transports, { recursive: true });
  const directory = pathToFileURL(`${transports}/`);
  const bundle = join(transports, 'devfuse-worker.bundle.cjs');
  const input = join(dir, 'erofs.js');
  const setTime = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

  it('the build made a bundle no compiled module is newer than', () => {
    const url = workerBundleUrl(new URL('../fuse/transports/', pathToFileURL(CLI)));
    assert.ok(existsSync(url), url.pathname);
  });

  it('refuses a missing bundle, then a bundle older than one of its inputs, naming the file', () => {
    assert.throws(
      () => workerBundleUrl(directory),
      (error: Error) => {
        assert.ok(error instanceof FatalError);
        assert.match(
          error.message,
          /devfuse-worker\.bundle\.cjs \(or its input list\) is missing; run npm run build$/,
        );
        return true;
      },
    );
    writeFileSync(bundle, '');
    writeFileSync(
      join(transports, 'devfuse-worker.bundle.json'),
      JSON.stringify({ inputs: ['../../erofs.js'] }),
    );
    writeFileSync(input, '');
    setTime(input, 1_700_000_000);
    setTime(bundle, 1_700_000_100);
    assert.equal(workerBundleUrl(directory).pathname, bundle);
    setTime(input, 1_700_000_200);
    assert.throws(
      () => workerBundleUrl(directory),
      /bundle\.cjs is older than .*\/erofs\.js; run npm run build$/,
    );
    rmSync(input);
    assert.throws(() => workerBundleUrl(directory), /is older than .*\/erofs\.js/);
  });

  it('a prestarted serving thread is taken once, for its own bundle, and configured by message', async () => {
    const built = workerBundleUrl(new URL('../fuse/transports/', pathToFileURL(CLI)));
    // What the thread reads before it fails: a backend whose image does not exist.
    const data = {
      worker: 0,
      ring: null,
      sharedState: null,
      spec: { kind: 'erofs', source: join(dir, 'missing.erofs') },
    } as unknown as WorkerData;
    prestartServingThread();
    assert.equal(takePrestartedThread(new URL('other.cjs', built), data), null);
    assert.equal(takePrestartedThread(built, data), null);
    prestartServingThread();
    const thread = takePrestartedThread(built, data);
    assert.ok(thread);
    assert.equal(takePrestartedThread(built, data), null);
    const [message] = (await once(thread, 'message', { signal: AbortSignal.timeout(10_000) })) as [
      FromWorker,
    ];
    assert.equal(message.type, 'failed');
    assert.match(message.type === 'failed' ? message.message : '', /ENOENT.*missing\.erofs/);
    await thread.terminate();
  });

  it('a daemon whose bundle is stale exits 1 with that one line and mounts nothing', async () => {
    // A copy of the build whose bundle is older than a module beside it.
    const copy = join(dir, 'copy');
    const root = join(CLI, '..', '..', '..');
    cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
    for (const name of ['node_modules', 'build', 'package.json'])
      symlinkSync(join(root, name), join(copy, name));
    const copied = join(copy, 'dist', 'fuse', 'transports');
    setTime(join(copied, 'devfuse-worker.bundle.cjs'), 1_700_000_000);
    const mountpoint = join(dir, 'mnt');
    mkdirSync(mountpoint);
    const image = unpackFixture('lz4', dir);
    const result = await execa(
      process.execPath,
      [join(copy, 'dist', 'cli', 'main.js'), 'mount', image, mountpoint],
      {
        reject: false,
      },
    );
    assert.equal(result.exitCode, 1);
    assert.match(
      String(result.stderr).trim(),
      /^fusebench: devfuse: the serving thread's bundle \S+ is older than \S+; run npm run build$/,
    );
    assert.equal(existsSync(join(mountpoint, 'sizes')), false);
  });
});
