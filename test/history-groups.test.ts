import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ResultFile } from '../results/schema.js';
import { fusebench } from './helpers/cli.js';
import { syntheticResult } from './helpers/synthetic-result.js';

/**
 * `fusebench history DIR`: a results directory collected from two hosts and three kernels (and
 * a file that is no result) makes one history per host and dataset, kernels in order within each.
 */

describe('fusebench history of a results directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-history-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const put = (path: string, result: ResultFile) => {
    mkdirSync(join(dir, 'results', path, '..'), { recursive: true });
    writeFileSync(join(dir, 'results', path), JSON.stringify(result));
  };
  const onHost = (host: string, kernelRelease: string, seed: string): ResultFile => {
    const result = syntheticResult({ seed, kernelRelease });
    result.environment.hostname = host;
    return result;
  };

  it('groups by host and dataset, skips what is not a result, and writes one report per group', async () => {
    put('vm-a/6.1.json', onHost('vm-a', '6.1.0-amd64', 'a1'));
    put('vm-a/6.12.json', onHost('vm-a', '6.12.9-amd64', 'a2'));
    put('vm-b/6.12.json', onHost('vm-b', '6.12.9-amd64', 'b1'));
    put('vm-b/6.18.json', onHost('vm-b', '6.18.0-amd64', 'b2'));
    writeFileSync(join(dir, 'results', 'notes.json'), '{"not": "a result"}');
    const out = join(dir, 'out');
    const run = await fusebench(['history', join(dir, 'results'), '--out', out]);
    assert.equal(run.exitCode, 0, String(run.stderr));
    const stdout = String(run.stdout);
    const headers = [...stdout.matchAll(/^== host (\S+), dataset (.+): (\d+) runs ==$/gm)].map((m) => [
      m[1],
      m[3],
    ]);
    assert.deepEqual(headers, [
      ['vm-a', '2'],
      ['vm-b', '2'],
    ]);
    // Within a group the kernels are in version order; no group mixes hosts.
    const vmB = stdout.slice(stdout.indexOf('== host vm-b'));
    assert.deepEqual(
      [...vmB.matchAll(/^\[(\d)\] +(\S+)/gm)].map((m) => m[2]),
      ['6.12.9-amd64', '6.18.0-amd64'],
    );
    assert.doesNotMatch(String(run.stderr), /mix hosts/);
    assert.match(String(run.stderr), /skipping .*notes\.json: .*not a fusebench result file/);
    const groupDirs = ['vm-a', 'vm-b'].map(
      (host) => stdout.match(new RegExp(`wrote (\\S*${host}-[^/\\s]+)/history\\.html`))?.[1],
    );
    for (const groupDir of groupDirs)
      assert.ok(groupDir && existsSync(join(groupDir, 'history.csv')), String(groupDir));
  });
});
