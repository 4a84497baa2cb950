import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SeededRandom } from '../lib/random.js';
import { applyMutations, generateMutations, type Mutation } from './mutate.js';
import { type CaseMessage, CasePool, type CaseResult } from './pool.js';
import type { CaseError } from './run-case.js';
import { mapStructuresOf, type StructureMap } from './structures.js';

/**
 * A fuzz campaign: seeded cases over a corpus of valid images, run in a bounded worker pool;
 * every untyped exception, hang, heap overrun or memory blow-up is a finding, shrunk to the fewest
 * mutations that still show it and saved as a gzipped image plus a JSON description.
 */

export interface CorpusMember {
  name: string;
  file: string;
  bytes: Buffer;
  map: StructureMap;
}

export interface CampaignOptions {
  corpusDir: string;
  findingsDir: string;
  seed: string;
  seconds: number;
  /** Stop after this many cases (default: only the time limit). */
  cases?: number;
  workers: number;
  timeoutMs: number;
  heapMb: number;
  rssCapMb: number;
  /** Cases a worker thread runs before it is replaced (see PoolOptions). */
  recycleAfter?: number;
  /** Progress lines go here (stderr by default); null for none. */
  log?: ((line: string) => void) | null;
  /** Seconds between progress lines. */
  progressEvery?: number;
  /** Names of corpus members to use (default: all). */
  only?: string[];
  /** Stops generating cases (then shrinks and saves what was found), e.g. on SIGINT. */
  signal?: AbortSignal;
}

export type FindingKind = 'exception' | 'hang' | 'oom' | 'memory' | 'crash';

export interface Finding {
  id: string;
  kind: FindingKind;
  signature: string;
  fixture: string;
  seed: string;
  caseIndex: number;
  caseSeed: string;
  focus: string[];
  backend: boolean;
  mutations: Mutation[];
  originalMutationCount: number;
  error?: CaseError;
  detail?: string;
  /** Cases with the same signature seen in this campaign. */
  count: number;
  reproduce: string;
}

export interface CampaignStats {
  seed: string;
  corpus: number;
  cases: number;
  seconds: number;
  casesPerSecond: number;
  clean: number;
  rejected: number;
  notOpened: number;
  ops: number;
  typedErrors: number;
  findings: Finding[];
  /** Findings by signature, duplicates counted. */
  findingCount: number;
  slowestMs: number;
  /** The five slowest cases (rerun one with --seed S --case INDEX). */
  slowest: Array<{ index: number; fixture: string; ms: number }>;
  byFixture: Record<string, { cases: number; clean: number; rejected: number }>;
  workersStarted: number;
}

export function loadCorpus(dir: string, only?: string[]): CorpusMember[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.erofs.gz') || name.endsWith('.erofs') || name.endsWith('.img'))
    .sort();
  const members: CorpusMember[] = [];
  for (const file of files) {
    const name = file.replace(/\.(erofs\.gz|erofs|img)$/, '');
    if (only && !only.includes(name)) continue;
    const path = join(dir, file);
    const raw = readFileSync(path);
    const bytes = file.endsWith('.gz') ? gunzipSync(raw) : raw;
    members.push({ name, file: path, bytes, map: mapStructuresOf(name, bytes) });
  }
  return members;
}

interface PlannedCase {
  index: number;
  fixture: string;
  mutations: Mutation[];
  caseSeed: string;
  focus: string[];
  backend: boolean;
}

export function planCase(corpus: CorpusMember[], seed: string, index: number): PlannedCase {
  const random = new SeededRandom(`${seed}/${index}`);
  const member = random.pick(corpus);
  const mutations = generateMutations(member.map, member.bytes, random);
  const focus = [
    ...new Set(
      mutations.flatMap((mutation) => (mutation.op === 'set' && mutation.path ? [mutation.path] : [])),
    ),
  ].slice(0, 3);
  return {
    index,
    fixture: member.name,
    mutations,
    caseSeed: `${seed}/${index}/ops`,
    focus,
    backend: random.next() < 0.25,
  };
}

/** Groups findings: same kind, error name, message shape and throwing frame → one bug. */
export function signatureOf(
  result: CaseResult,
  mutations: Mutation[],
): { kind: FindingKind; signature: string } | null {
  switch (result.kind) {
    case 'done': {
      if (result.outcome.status !== 'bug') return null;
      const error = result.outcome.error!;
      // A stack overflow's top frame is wherever the recursion happened to be: group them all.
      if (/call stack size exceeded/.test(error.message)) {
        return { kind: 'exception', signature: `exception ${error.name}: stack overflow` };
      }
      const frame =
        error.stack
          .split('\n')
          .find((line) => /\/(erofs|fuse|lib|fuzz)\//.test(line))
          ?.replace(/^.*\/(erofs|fuse|lib|fuzz)\//, '$1/')
          .replace(/:\d+\)?$/, '')
          .trim() ?? '?';
      const shape = error.message
        .replace(/0x[0-9a-f]+/gi, 'N')
        .replace(/\d+/g, 'N')
        .slice(0, 120);
      return { kind: 'exception', signature: `exception ${error.name}: ${shape} at ${frame}` };
    }
    case 'hang':
      return { kind: 'hang', signature: `hang ${mutationShape(mutations)}` };
    case 'oom':
      return { kind: 'oom', signature: `oom ${mutationShape(mutations)}` };
    case 'memory-suspect':
      return { kind: 'memory', signature: `memory ${mutationShape(mutations)}` };
    case 'crash':
      return { kind: 'crash', signature: `crash ${result.message.split('\n')[0]}` };
  }
}

/** The structure-aware parts of a mutation list ("dirent nid", "inode i_size"), for grouping hangs. */
function mutationShape(mutations: Mutation[]): string {
  const parts = mutations
    .filter((mutation) => mutation.op !== 'recrc')
    .map((mutation) => mutation.what.replace(/ = .*$/, '').replace(/\d+/g, 'N'));
  return [...new Set(parts)].sort().join(', ');
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignStats> {
  const log = options.log === undefined ? (line: string) => process.stderr.write(`${line}\n`) : options.log;
  const corpus = loadCorpus(options.corpusDir, options.only);
  if (corpus.length === 0) throw new Error(`no images (*.erofs, *.erofs.gz) in ${options.corpusDir}`);
  const corpusFiles = Object.fromEntries(corpus.map((member) => [member.name, member.file]));
  const pool = new CasePool({
    workers: options.workers,
    timeoutMs: options.timeoutMs,
    heapMb: options.heapMb,
    rssCapMb: options.rssCapMb,
    corpus: corpusFiles,
    ...(options.recycleAfter ? { recycleAfter: options.recycleAfter } : {}),
  });
  const stats: CampaignStats = {
    seed: options.seed,
    corpus: corpus.length,
    cases: 0,
    seconds: 0,
    casesPerSecond: 0,
    clean: 0,
    rejected: 0,
    notOpened: 0,
    ops: 0,
    typedErrors: 0,
    findings: [],
    findingCount: 0,
    slowestMs: 0,
    slowest: [],
    byFixture: {},
    workersStarted: 0,
  };
  const samples = new Map<
    string,
    { planned: PlannedCase; result: CaseResult; kind: FindingKind; count: number }
  >();
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  let nextIndex = 0;
  let lastProgress = started;
  const limit = options.cases ?? Number.POSITIVE_INFINITY;

  const record = (planned: PlannedCase, result: CaseResult) => {
    stats.cases++;
    stats.slowestMs = Math.max(stats.slowestMs, result.ms);
    if (stats.slowest.length < 5 || result.ms > stats.slowest.at(-1)!.ms) {
      stats.slowest.push({ index: planned.index, fixture: planned.fixture, ms: Math.round(result.ms) });
      stats.slowest.sort((a, b) => b.ms - a.ms);
      stats.slowest.length = Math.min(stats.slowest.length, 5);
    }
    const fixture = stats.byFixture[planned.fixture] ?? { cases: 0, clean: 0, rejected: 0 };
    stats.byFixture[planned.fixture] = fixture;
    fixture.cases++;
    if (result.kind === 'done') {
      stats.ops += result.outcome.ops;
      stats.typedErrors += result.outcome.typedErrors;
      if (!result.outcome.opened) stats.notOpened++;
      if (result.outcome.status === 'clean') {
        stats.clean++;
        fixture.clean++;
      } else if (result.outcome.status === 'rejected') {
        stats.rejected++;
        fixture.rejected++;
      }
    }
    const found = signatureOf(result, planned.mutations);
    if (!found) return;
    stats.findingCount++;
    const sample = samples.get(found.signature);
    if (sample) sample.count++;
    else {
      samples.set(found.signature, { planned, result, kind: found.kind, count: 1 });
      log?.(`finding: ${found.signature} (case ${planned.index}, ${planned.fixture})`);
      // Saved unshrunk at once, so a campaign that dies later still leaves it behind.
      saveFinding(
        options.findingsDir,
        findingOf(options, found.signature, found.kind, planned, planned.mutations, result, 1),
        corpus,
      );
    }
  };

  const runOne = async (planned: PlannedCase): Promise<void> => {
    const message = messageOf(planned);
    let result = await pool.run(message);
    if (result.kind === 'memory-suspect') {
      // Rerun alone: only a case that breaks the cap by itself is a finding.
      result = await runAlone(options, corpusFiles, message);
    }
    record(planned, result);
  };

  const lanes = Array.from({ length: Math.max(1, options.workers) }, async () => {
    while (performance.now() < deadline && nextIndex < limit && !options.signal?.aborted) {
      const planned = planCase(corpus, options.seed, nextIndex++);
      await runOne(planned);
      const now = performance.now();
      if (now - lastProgress > (options.progressEvery ?? 10) * 1000) {
        lastProgress = now;
        const seconds = (now - started) / 1000;
        stats.seconds = seconds;
        stats.casesPerSecond = stats.cases / seconds;
        checkpoint(options.findingsDir, stats);
        if (!log) continue;
        log(
          `${stats.cases} cases in ${seconds.toFixed(0)} s (${(stats.cases / seconds).toFixed(0)}/s), ` +
            `${stats.rejected} rejected, ${stats.findingCount} findings (${samples.size} distinct)`,
        );
      }
    }
  });
  await Promise.all(lanes);
  stats.seconds = (performance.now() - started) / 1000;
  stats.casesPerSecond = stats.cases / stats.seconds;
  checkpoint(options.findingsDir, stats);

  try {
    for (const [signature, sample] of samples) {
      log?.(`shrinking: ${signature}`);
      const finding = await shrink(pool, options, corpusFiles, corpus, signature, sample);
      saveFinding(options.findingsDir, finding, corpus);
      stats.findings.push(finding);
    }
  } finally {
    stats.workersStarted = pool.started;
    await pool.close();
  }
  return stats;
}

function messageOf(planned: PlannedCase): Omit<CaseMessage, 'id'> {
  return {
    fixture: planned.fixture,
    mutations: planned.mutations,
    seed: planned.caseSeed,
    focus: planned.focus,
    backend: planned.backend,
  };
}

/**
 * Reruns a memory suspect in a thread of its own. Its cap is the RSS now plus the growth allowed,
 * not the absolute cap: memory other threads hold (or glibc kept) must not convict it.
 */
async function runAlone(
  options: CampaignOptions,
  corpus: Record<string, string>,
  message: Omit<CaseMessage, 'id'>,
): Promise<CaseResult> {
  const alone = new CasePool({
    workers: 1,
    timeoutMs: options.timeoutMs,
    heapMb: options.heapMb,
    rssCapMb: Math.round(process.memoryUsage.rss() / 2 ** 20) + RSS_GROWTH_MB,
    corpus,
  });
  try {
    return await alone.run(message);
  } finally {
    await alone.close();
  }
}

const MAX_SHRINK_TRIALS = 80;
/** How much one case alone may grow the process's RSS (MiB). */
const RSS_GROWTH_MB = 1024;

/**
 * Drops mutations one at a time while the same signature still shows (to a fixpoint), and trims
 * each byte run to the bytes that actually change the image.
 */
async function shrink(
  pool: CasePool,
  options: CampaignOptions,
  corpusFiles: Record<string, string>,
  corpus: CorpusMember[],
  signature: string,
  sample: { planned: PlannedCase; result: CaseResult; kind: FindingKind; count: number },
): Promise<Finding> {
  const { planned } = sample;
  const base = corpus.find((member) => member.name === planned.fixture)!.bytes;
  let best = trimSets(base, planned.mutations);
  let bestResult = sample.result;
  // A hang costs a whole time limit per trial: shrink those less hard.
  let trials = sample.kind === 'exception' || sample.kind === 'crash' ? 0 : MAX_SHRINK_TRIALS - 24;
  const reproduces = async (mutations: Mutation[]): Promise<CaseResult | null> => {
    trials++;
    const message = { ...messageOf(planned), mutations };
    let result = await pool.run(message);
    if (result.kind === 'memory-suspect') result = await runAlone(options, corpusFiles, message);
    return signatureOf(result, mutations)?.kind === sample.kind &&
      (sample.kind !== 'exception' || signatureOf(result, mutations)?.signature === signature)
      ? result
      : null;
  };
  const confirmed = await reproduces(best);
  if (confirmed) bestResult = confirmed;
  else best = planned.mutations;
  let changed = true;
  while (changed && trials < MAX_SHRINK_TRIALS) {
    changed = false;
    for (let index = 0; index < best.length && trials < MAX_SHRINK_TRIALS; index++) {
      const candidate = best.filter((_, position) => position !== index);
      if (candidate.length === 0) continue;
      const result = await reproduces(candidate);
      if (result) {
        best = candidate;
        bestResult = result;
        changed = true;
        index--;
      }
    }
  }
  // Then the shortest image prefix that still fails, so the saved reproducer stays small.
  const size = corpus.find((member) => member.name === planned.fixture)!.bytes.length;
  for (let length = 4096; length < size && trials < MAX_SHRINK_TRIALS + 12; length *= 2) {
    const candidate = withTruncation(best, length);
    const result = await reproduces(candidate);
    if (result) {
      best = candidate;
      bestResult = result;
      break;
    }
  }
  return findingOf(options, signature, sample.kind, planned, best, bestResult, sample.count);
}

function findingOf(
  options: CampaignOptions,
  signature: string,
  kind: FindingKind,
  planned: PlannedCase,
  mutations: Mutation[],
  result: CaseResult,
  count: number,
): Finding {
  const id = `${kind}-${createHash('sha256').update(signature).digest('hex').slice(0, 10)}`;
  const finding: Finding = {
    id,
    kind,
    signature,
    fixture: planned.fixture,
    seed: options.seed,
    caseIndex: planned.index,
    caseSeed: planned.caseSeed,
    focus: planned.focus,
    backend: planned.backend,
    mutations,
    originalMutationCount: planned.mutations.length,
    count,
    reproduce: `npm run fuzz -- --replay ${relative(process.cwd(), join(options.findingsDir, `${id}.json`)) || '.'}`,
  };
  if (result.kind === 'done' && result.outcome.error) finding.error = result.outcome.error;
  if (result.kind !== 'done') finding.detail = JSON.stringify(result);
  return finding;
}

/** Adds a truncation to `length` before a trailing checksum fix (which must see the final bytes). */
function withTruncation(mutations: Mutation[], length: number): Mutation[] {
  const truncate: Mutation = { op: 'truncate', length, what: `shrink: truncate to ${length} bytes` };
  const last = mutations.at(-1);
  if (last?.op === 'recrc') return [...mutations.slice(0, -1), truncate, last];
  return [...mutations, truncate];
}

/** Each set keeps only the bytes that differ from the image as it is when the set applies. */
export function trimSets(base: Buffer, mutations: Mutation[]): Mutation[] {
  const out: Mutation[] = [];
  for (const mutation of mutations) {
    if (mutation.op !== 'set') {
      out.push(mutation);
      continue;
    }
    const before = applyMutations(base, out);
    const bytes = Buffer.from(mutation.hex, 'hex');
    let start = 0;
    let end = bytes.length;
    while (start < end && before[mutation.offset + start] === bytes[start]) start++;
    while (end > start && before[mutation.offset + end - 1] === bytes[end - 1]) end--;
    if (start === end) continue;
    out.push({
      ...mutation,
      offset: mutation.offset + start,
      hex: bytes.subarray(start, end).toString('hex'),
    });
  }
  return out;
}

/** The totals so far, so a campaign whose process dies still says how far it got. */
function checkpoint(dir: string, stats: CampaignStats): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'campaign.json'),
    `${JSON.stringify({ ...stats, findings: undefined }, null, 2)}\n`,
  );
}

export function saveFinding(dir: string, finding: Finding, corpus: CorpusMember[]): void {
  mkdirSync(dir, { recursive: true });
  const base = corpus.find((member) => member.name === finding.fixture)!.bytes;
  writeFileSync(
    join(dir, `${finding.id}.erofs.gz`),
    gzipSync(applyMutations(base, finding.mutations), { level: 9 }),
  );
  writeFileSync(join(dir, `${finding.id}.json`), `${JSON.stringify(finding, null, 2)}\n`);
}
