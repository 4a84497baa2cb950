import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ResultBuilder } from '../bench/result-builder.js';
import { type Repetition, resultFileSchema } from '../results/schema.js';
import { groupWarnings } from '../results/warnings.js';
import { findWorkload } from '../workloads/catalog.js';
import { syntheticResult } from './helpers/synthetic-result.js';

/**
 * The result builder turns repetitions into measurements with the verdicts a reader must see:
 * failed cells (with the reason), wrong data (invalid), op counts that differ from the plan or
 * across setups, a busy machine, warm cells that went cold. Checked on the saved file itself.
 */

const dir = mkdtempSync(join(tmpdir(), 'fusebench-builder-'));
const template = syntheticResult({ repetitions: 3 });
const sample = template.measurements.find(
  (m) => m.workload === 'randread-4k' && m.setup === 'fuse-erofs-ts',
)!;

function repetition(overrides: Partial<Repetition> = {}): Repetition {
  return { ...structuredClone(sample.repetitions[0]!), traced: false, fuse: null, ...overrides };
}

function builder(name: string) {
  const output = join(dir, `${name}.json`);
  const result = {
    ...structuredClone(template),
    status: 'running' as const,
    measurements: [],
    floor: [],
    warnings: [],
  };
  return { builder: new ResultBuilder(result, output, true), output };
}

const cell = {
  workload: findWorkload('randread-4k')!,
  driver: 'node',
  plannedOps: sample.repetitions[0]!.opCount,
};

describe('result builder', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('records a failed cell with its reason, an invalid one with the wrong files, and saves a valid file', () => {
    const { builder: b, output } = builder('verdicts');
    for (const index of [0, 1, 2])
      b.addRepetition('randread-4k', 'warm', 'kernel-erofs', repetition({ index }), 0);
    b.addRepetition(
      'randread-4k',
      'warm',
      'fuse-erofs-ts',
      repetition({ verified: { files: 2, bytes: 100, wrong: ['big: sha256 0000…, expected 1111…'] } }),
      0,
    );
    b.fail('randread-4k', 'warm', 'squashfuse', 'skipped: squashfuse is not installed');
    assert.ok(b.hasFailed('randread-4k', 'warm', 'squashfuse'));
    b.complete(cell, 'warm', ['kernel-erofs', 'fuse-erofs-ts', 'squashfuse'], 'measurements');
    const saved = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
    const bySetup = new Map(saved.measurements.map((m) => [m.setup, m]));
    assert.equal(bySetup.get('kernel-erofs')!.status, 'ok');
    assert.equal(bySetup.get('fuse-erofs-ts')!.status, 'invalid');
    assert.match(bySetup.get('fuse-erofs-ts')!.reason!, /wrong data read: big: sha256/);
    assert.equal(bySetup.get('squashfuse')!.status, 'failed');
    assert.equal(bySetup.get('squashfuse')!.reason, 'skipped: squashfuse is not installed');
    assert.equal(bySetup.get('squashfuse')!.repetitions.length, 0);
  });

  it('warns when op counts differ from the plan or across setups', () => {
    const { builder: b } = builder('counts');
    const planned = cell.plannedOps;
    b.addRepetition('randread-4k', 'cold', 'kernel-erofs', repetition({ opCount: planned }), 0);
    b.addRepetition('randread-4k', 'cold', 'native', repetition({ opCount: planned - 1808 }), 0);
    const [kernel, native] = b.complete(cell, 'cold', ['kernel-erofs', 'native'], 'measurements');
    assert.deepEqual(
      kernel!.warnings.filter((w) => w.startsWith('op count')),
      [],
    );
    assert.match(
      native!.warnings.join('\n'),
      new RegExp(`op count: performed ${planned - 1808} operations, the plan has ${planned}`),
    );
    assert.match(b.result.warnings.join('\n'), /op counts differ across setups/);
  });

  it('warns about a busy machine and a warm cell that sent READs, grouped by kind for the summary', () => {
    const { builder: b } = builder('machine');
    const busy = repetition();
    busy.machine = { ...busy.machine, cpuStallNs: busy.machine.intervalNs * 0.6, load1Before: 5.5 };
    b.addRepetition('randread-4k', 'warm', 'fuse-erofs-ts', busy, 0);
    b.addRepetition(
      'randread-4k',
      'warm',
      'fuse-erofs-ts',
      repetition({
        traced: true,
        fuse: { READ: { count: 12, errors: 0, totalNs: 1000, p50Ns: 80, p99Ns: 90, maxNs: 100 } },
      }),
      0,
    );
    const [measurement] = b.complete(cell, 'warm', ['fuse-erofs-ts'], 'measurements');
    const text = measurement!.warnings.join('\n');
    assert.match(
      text,
      /busy machine: tasks waited for a CPU during more than 25% of 1 repetition \(worst 60%, load 5\.5\)/,
    );
    assert.match(text, /warm went cold: the traced warm repetition sent 12 FUSE READs/);
    const kinds = groupWarnings(b.result).map((group) => group.kind);
    assert.ok(kinds.includes('busy machine') && kinds.includes('warm went cold'), kinds.join());
  });
});
