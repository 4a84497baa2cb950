import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readMountInfo } from '../../lib/mounts.js';
import type { CleanupStack } from '../../runners/cleanup.js';

/** Unwinds a test's run and checks that it is all gone: no failure, no mount inside, no directory. */
export async function unwindRun(stack: CleanupStack, runDir: string): Promise<void> {
  assert.deepEqual(await stack.unwind(), []);
  assert.ok(!readMountInfo().some((entry) => entry.mountpoint.startsWith(runDir)), 'no mount left');
  assert.ok(!existsSync(runDir), 'run directory removed');
}
