import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type DaemonRequest, readDaemonRequest, writeDaemonRequest } from '../fuse/daemon-request.js';
import { defaultTransportOptions } from '../fuse/transport.js';
import { isMounted } from '../lib/mounts.js';
import { fusebench } from './helpers/cli.js';

/**
 * One typed request starts a fusebench daemon: what a run writes is what the daemon reads, a
 * request either side would refuse is refused in one line naming the field, and a daemon started
 * from a request file serves.
 */

describe('daemon request: the one way a run starts a fusebench daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-request-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, 'tree');
  mkdirSync(join(source, 'sub'), { recursive: true });
  writeFileSync(join(source, 'sub', 'file'), 'through a request\n');
  const request = (mountpoint: string): DaemonRequest => ({
    backend: { kind: 'passthrough', source },
    mountpoint,
    transport: 'devfuse',
    options: { ...defaultTransportOptions, threads: 2 },
    factsFile: null,
  });

  it('reads back exactly what was written', () => {
    const file = join(dir, 'same.json');
    writeDaemonRequest(file, request('/mnt/x'));
    assert.deepEqual(readDaemonRequest(file), request('/mnt/x'));
  });

  it('refuses a request before writing it, naming the field', () => {
    const bad = { ...request('/mnt/x'), options: { ...defaultTransportOptions, threads: 0 } };
    assert.throws(() => writeDaemonRequest(join(dir, 'bad.json'), bad), /options\.threads: /);
  });

  for (const [label, content, message] of [
    [
      'a negative timeout',
      { options: { ...defaultTransportOptions, entryTimeout: -1 } },
      /options\.entryTimeout: /,
    ],
    ['an unknown option', { options: { ...defaultTransportOptions, speed: 'fast' } }, /options: .*speed/],
    ['a relative source', { backend: { kind: 'passthrough', source: 'tree' } }, /backend\.source: /],
  ] as const) {
    it(`a daemon given ${label} exits 1 with one line`, async () => {
      const file = join(dir, `${label.replaceAll(' ', '-')}.json`);
      writeFileSync(file, JSON.stringify({ ...request(join(dir, 'never')), ...content }));
      const result = await fusebench(['passthrough', '--request', file]);
      assert.equal(result.exitCode, 1);
      const stderr = String(result.stderr).trim();
      assert.equal(stderr.split('\n').length, 1, stderr);
      assert.match(stderr, message);
    });
  }

  it('--request takes the whole request: anything beside it is a usage error', async () => {
    const file = join(dir, 'whole.json');
    writeDaemonRequest(file, request(join(dir, 'm')));
    const result = await fusebench(['passthrough', '--request', file, '--threads', '4']);
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /--request takes the whole request; drop --threads/);
  });

  it('a daemon started from a request file serves the tree without NODE_EXTRA_CA_CERTS, and stops on umount', async () => {
    const mountpoint = join(dir, 'mnt');
    mkdirSync(mountpoint);
    const file = join(dir, 'serve.json');
    writeDaemonRequest(file, request(mountpoint));
    const certificates = join(dir, 'extra-ca.pem');
    writeFileSync(certificates, '');
    const started = await fusebench(['passthrough', '--request', file, '--background'], {
      env: { NODE_EXTRA_CA_CERTS: certificates, FUSEBENCH_MARK: 'kept' },
    });
    assert.equal(started.exitCode, 0, String(started.stderr));
    try {
      assert.equal(readFileSync(join(mountpoint, 'sub', 'file'), 'utf8'), 'through a request\n');
      // The daemon's own environment: the rest of ours, without the CA bundle it would parse at start.
      const environment = readFileSync(`/proc/${String(started.stdout).trim()}/environ`, 'utf8').split('\0');
      assert.ok(environment.includes('FUSEBENCH_MARK=kept'));
      assert.ok(!environment.some((entry) => entry.startsWith('NODE_EXTRA_CA_CERTS=')));
    } finally {
      const stopped = await fusebench(['umount', mountpoint]);
      assert.equal(stopped.exitCode, 0, String(stopped.stderr));
    }
    assert.equal(isMounted(mountpoint), false);
  });
});
