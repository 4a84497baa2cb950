import assert from 'node:assert/strict';
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
});
