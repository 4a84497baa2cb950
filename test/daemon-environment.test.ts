import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { daemonEnvironment } from '../lib/daemon-environment.js';

describe('daemonEnvironment', () => {
  it('drops NODE_EXTRA_CA_CERTS, keeps the rest, and sets the allocator tunables', () => {
    const environment = daemonEnvironment({ PATH: '/usr/bin', NODE_EXTRA_CA_CERTS: '/etc/ca.pem' });
    assert.equal(environment.PATH, '/usr/bin');
    assert.ok(!('NODE_EXTRA_CA_CERTS' in environment));
    assert.match(
      environment.GLIBC_TUNABLES ?? '',
      /^glibc\.malloc\.mmap_threshold=\d+:glibc\.malloc\.trim_threshold=\d+$/,
    );
  });

  it("keeps a caller's own GLIBC_TUNABLES", () => {
    const environment = daemonEnvironment({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' });
    assert.equal(environment.GLIBC_TUNABLES, 'glibc.malloc.arena_max=1');
  });

  it("gives V8 one background thread, beside the caller's NODE_OPTIONS, unless they set the pool size", () => {
    assert.equal(daemonEnvironment({}).NODE_OPTIONS, '--v8-pool-size=1');
    assert.equal(
      daemonEnvironment({ NODE_OPTIONS: '--enable-source-maps' }).NODE_OPTIONS,
      '--enable-source-maps --v8-pool-size=1',
    );
    assert.equal(daemonEnvironment({ NODE_OPTIONS: '--v8-pool-size=4' }).NODE_OPTIONS, '--v8-pool-size=4');
    assert.equal(daemonEnvironment({ NODE_OPTIONS: '--v8-pool-size 2' }).NODE_OPTIONS, '--v8-pool-size 2');
  });

  it('starts node with it: node takes the option from NODE_OPTIONS and starts fewer threads', () => {
    const threads = (environment: NodeJS.ProcessEnv) => {
      const result = spawnSync(
        process.execPath,
        ['-e', "process.stdout.write(String(require('node:fs').readdirSync('/proc/self/task').length))"],
        { env: environment, encoding: 'utf8' },
      );
      assert.equal(result.status, 0, result.stderr);
      return Number(result.stdout);
    };
    assert.ok(
      threads(daemonEnvironment()) < threads(daemonEnvironment({ NODE_OPTIONS: '--v8-pool-size=4' })),
    );
  });
});
