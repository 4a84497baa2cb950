#!/usr/bin/env node
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { type Finding, loadCorpus, planCase, runCampaign } from './campaign.js';
import { applyMutations } from './mutate.js';
import { CasePool, type CaseResult } from './pool.js';
import { exploreImage } from './run-case.js';

/**
 * `npm run fuzz -- --seconds N [--cases N] [--seed S] [--corpus DIR] [--findings DIR]`: fuzzes the
 * TypeScript EROFS reader with mutated copies of valid images. Exit status 0 when nothing was
 * found, 1 when findings were saved, 2 for bad arguments. `--replay FINDING.json` reruns one
 * saved finding and says whether it still fails.
 */

const DEFAULT_CORPUS = fileURLToPath(new URL('../../test/fixtures/erofs/', import.meta.url));

const USAGE = `usage: npm run fuzz -- [options]

  --seconds N       how long to generate cases (default 60)
  --cases N         stop after N cases (default: no limit)
  --seed S          seed of the case stream (default: random, printed)
  --corpus DIR      valid images (*.erofs, *.erofs.gz) to mutate (default test/fixtures/erofs)
  --only A,B        use only these corpus members
  --findings DIR    where reproducers go (default out/fuzz-findings)
  --workers N       worker threads (default: CPU count)
  --timeout MS      per-case time limit (default 10000)
  --heap-mb N       per-thread heap cap (default 256)
  --rss-mb N        process RSS cap (default 3072)
  --progress SEC    seconds between progress lines on stderr (default 10)
  --recycle N       cases a worker thread runs before it is replaced (default 2000)
  --json            print the summary as JSON
  --replay FILE     rerun one saved finding (FILE.json beside FILE.erofs.gz)
  --case N          run case N of --seed alone, in this thread, and describe it
`;

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) fail(`--${name}: expected a positive integer, got '${value}'`);
  return number;
}

async function replay(file: string, timeoutMs: number, heapMb: number): Promise<number> {
  const finding = JSON.parse(readFileSync(file, 'utf8')) as Finding;
  const imageFile = file.replace(/\.json$/, '.erofs.gz');
  if (!existsSync(imageFile)) fail(`${imageFile} is missing`);
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-replay-'));
  const image = join(dir, 'image.erofs');
  writeFileSync(image, gunzipSync(readFileSync(imageFile)));
  const pool = new CasePool({ workers: 1, timeoutMs, heapMb, rssCapMb: 4096, corpus: {} });
  let result: CaseResult;
  try {
    result = await pool.run({
      imagePath: image,
      seed: finding.caseSeed,
      focus: finding.focus,
      backend: finding.backend,
    });
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const still = result.kind !== 'done' || result.outcome.status === 'bug';
  process.stdout.write(
    `${JSON.stringify(result, null, 2)}\n${still ? 'still fails' : 'fixed'}: ${finding.signature}\n`,
  );
  return still ? 1 : 0;
}

/** Plans case `index` of `seed` exactly as a campaign would and runs it here, timed. */
function runOneCase(corpusDir: string, seed: string, index: number, only?: string[]): number {
  if (!Number.isInteger(index) || index < 0) fail(`--case: expected a case number, got '${index}'`);
  const corpus = loadCorpus(corpusDir, only);
  const planned = planCase(corpus, seed, index);
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-case-'));
  try {
    const image = join(dir, 'image.erofs');
    const base = corpus.find((member) => member.name === planned.fixture)!.bytes;
    writeFileSync(image, applyMutations(base, planned.mutations));
    const started = performance.now();
    const outcome = exploreImage(image, {
      seed: planned.caseSeed,
      focus: planned.focus,
      backend: planned.backend,
    });
    const ms = performance.now() - started;
    process.stdout.write(`${JSON.stringify({ ...planned, outcome, ms }, null, 2)}\n`);
    return outcome.status === 'bug' ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  const parse = (args: string[]) =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        seconds: { type: 'string' },
        cases: { type: 'string' },
        seed: { type: 'string' },
        corpus: { type: 'string' },
        only: { type: 'string' },
        findings: { type: 'string' },
        workers: { type: 'string' },
        timeout: { type: 'string' },
        'heap-mb': { type: 'string' },
        'rss-mb': { type: 'string' },
        json: { type: 'boolean' },
        replay: { type: 'string' },
        case: { type: 'string' },
        progress: { type: 'string' },
        recycle: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  try {
    values = parse(process.argv.slice(2)).values;
  } catch (error) {
    fail(`${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const timeoutMs = integer('timeout', values.timeout, 10_000);
  const heapMb = integer('heap-mb', values['heap-mb'], 256);
  if (values.replay) return replay(resolve(values.replay), timeoutMs, heapMb);
  const seed = values.seed ?? `seed-${Date.now().toString(36)}`;
  const corpusDir = resolve(values.corpus ?? DEFAULT_CORPUS);
  if (values.case !== undefined) {
    return runOneCase(corpusDir, seed, Number(values.case), values.only?.split(','));
  }
  const findingsDir = resolve(values.findings ?? 'out/fuzz-findings');
  // SIGINT stops the case stream; what was found is still shrunk, saved and summed up.
  const stop = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('fuzz: stopping after the cases in flight\n');
    stop.abort();
  });
  const stats = await runCampaign({
    signal: stop.signal,
    progressEvery: integer('progress', values.progress, 10),
    corpusDir,
    findingsDir,
    seed,
    seconds: integer('seconds', values.seconds, 60),
    ...(values.cases ? { cases: integer('cases', values.cases, 1) } : {}),
    ...(values.only ? { only: values.only.split(',') } : {}),
    workers: integer('workers', values.workers, availableParallelism()),
    timeoutMs,
    heapMb,
    rssCapMb: integer('rss-mb', values['rss-mb'], 3072),
    recycleAfter: integer('recycle', values.recycle, 2000),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
  } else {
    process.stdout.write(
      [
        `seed ${stats.seed}, corpus ${stats.corpus} images`,
        `${stats.cases} cases in ${stats.seconds.toFixed(1)} s: ${stats.casesPerSecond.toFixed(1)} cases/s`,
        `clean ${stats.clean}, rejected with typed errors ${stats.rejected} (not opened ${stats.notOpened}), ` +
          `${stats.ops} operations, ${stats.typedErrors} typed errors, slowest case ${stats.slowestMs.toFixed(0)} ms`,
        `slowest cases: ${stats.slowest.map((slow) => `#${slow.index} ${slow.fixture} ${slow.ms} ms`).join(', ')}`,
        `findings: ${stats.findingCount} (${stats.findings.length} distinct)`,
        ...stats.findings.map(
          (finding) =>
            `  ${finding.id}: ${finding.signature} ×${finding.count} → ${join(findingsDir, `${finding.id}.json`)}`,
        ),
        '',
      ].join('\n'),
    );
  }
  return stats.findings.length > 0 ? 1 : 0;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(
      `fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 70;
  },
);
