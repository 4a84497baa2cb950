import { prepareDataset } from '../datasets/dataset.js';
import type { Manifest } from '../datasets/manifest.js';
import { FatalError } from '../lib/errors.js';
import type { CacheState } from '../results/schema.js';
import { findRunSetup, floorDefinition } from '../runners/registry.js';
import { findWorkload, plannedOpCount, type WorkloadPlan } from '../workloads/catalog.js';
import { filesRead, verificationSample } from '../workloads/verify.js';
import { describeStep, type PlanStep, planRun } from './plan.js';
import { autoDriverWorkloads, planOf, type RunOptions } from './run.js';

/**
 * `fusebench run --dry-run`: the plan a run would carry out, step by step, and a rough estimate
 * of its duration. Needs the dataset's manifest (generated or read once, then cached) to count
 * operations; mounts nothing and needs no root.
 */

/**
 * Fixed costs of the estimate, seconds. Set from quick runs on a shared 2-core VM (a repetition's
 * own framing and client start: Node clients are started once per run; remount of four setups,
 * sync + drop_caches); the per-operation and per-byte costs are typical of a FUSE setup, warm and
 * cold. An order of magnitude, not a prediction.
 */
const COST = {
  clientStart: { node: 0.08, native: 0.05, fio: 0.15, shell: 0.05 } as Record<string, number>,
  remount: 0.45,
  dropCaches: 0.04,
  perOp: { warm: 10e-6, cold: 150e-6 } satisfies Record<CacheState, number>,
  perByte: { warm: 1 / 3e9, cold: 1 / 150e6 } satisfies Record<CacheState, number>,
};

function planBytes(plan: WorkloadPlan, manifest: Manifest): number {
  const sizes = new Map(manifest.entries.map((entry) => [entry.path, entry.size]));
  if (plan.driver === 'fio') return plan.bytes;
  // Shell commands read their files once each.
  if (plan.driver === 'shell') return plan.reads.reduce((sum, path) => sum + (sizes.get(path) ?? 0), 0);
  let bytes = 0;
  for (const stream of plan.streams)
    for (const op of stream) {
      if (op.kind === 'pread') bytes += op.length;
      else if (op.kind === 'readfile' || op.kind === 'mmapread') bytes += sizes.get(op.path) ?? 0;
    }
  return bytes;
}

interface WorkloadCost {
  driver: string;
  ops: number;
  bytes: number;
  /** Bytes read back to verify one repetition. */
  verifyBytes: number;
}

export function estimateSeconds(
  steps: readonly PlanStep[],
  costs: ReadonlyMap<string, WorkloadCost>,
): number {
  let seconds = 0;
  for (const step of steps) {
    if (step.kind === 'remount') seconds += COST.remount;
    if (step.kind !== 'warmup' && step.kind !== 'repetition') continue;
    const cost = costs.get(step.workload)!;
    const cache = step.kind === 'repetition' ? step.cache : 'warm';
    seconds += COST.clientStart[cost.driver] ?? COST.clientStart.node!;
    seconds += cost.ops * COST.perOp[cache] + cost.bytes * COST.perByte[cache];
    if (step.kind === 'repetition') {
      if (step.dropCaches) seconds += COST.dropCaches;
      seconds += cost.verifyBytes * COST.perByte.warm;
    }
  }
  return seconds;
}

function formatSeconds(seconds: number): string {
  const rounded = Math.round(seconds);
  return rounded >= 60
    ? `${Math.floor(rounded / 60)}m${String(rounded % 60).padStart(2, '0')}s`
    : `${rounded}s`;
}

export async function describeRunPlan(options: RunOptions): Promise<string> {
  const setups = options.setups.map((name) => {
    const definition = findRunSetup(name, options.externalSetups);
    if (!definition) throw new FatalError(`unknown setup '${name}'`);
    return { name, kind: definition.kind };
  });
  if (options.floor) setups.push({ name: floorDefinition.name, kind: floorDefinition.kind });
  const dataset = await prepareDataset(options.dataset, options.image, options.cacheDir);
  const costs = new Map<string, WorkloadCost>();
  const autoDriver = new Set(
    options.driver === 'auto'
      ? autoDriverWorkloads(options.workloads.map((name) => findWorkload(name)!))
      : [],
  );
  for (const name of options.workloads) {
    const workload = findWorkload(name);
    if (!workload) throw new FatalError(`unknown workload '${name}'`);
    const plan = planOf(workload, dataset.manifest, options.seed);
    const reads = filesRead(plan);
    costs.set(name, {
      driver:
        plan.driver === 'ops'
          ? plan.needsNative
            ? 'native'
            : options.driver === 'auto'
              ? 'node'
              : options.driver
          : plan.driver,
      ops: plannedOpCount(plan),
      bytes: planBytes(plan, dataset.manifest),
      verifyBytes:
        reads.length === 0
          ? 0
          : verificationSample(reads, dataset.manifest, 'estimate').reduce(
              (sum, entry) => sum + entry.size,
              0,
            ),
    });
  }
  const steps = planRun({
    setups,
    workloads: options.workloads,
    cacheStates: options.cacheStates,
    repetitions: options.repetitions,
    warmup: options.warmup,
    seed: options.seed,
    trace: options.trace,
    driverChoice: [...autoDriver],
  });
  const width = String(steps.length).length;
  const lines = steps.map((step, index) => `${String(index + 1).padStart(width)}  ${describeStep(step)}`);
  const count = (kind: PlanStep['kind']) => steps.filter((step) => step.kind === kind).length;
  const repetitions = steps.filter((step) => step.kind === 'repetition');
  lines.unshift(
    `plan of fusebench run: dataset ${dataset.name}, ${setups.map((setup) => setup.name).join(', ')}; seed ${options.seed}`,
    ...options.workloads.map((name) => {
      const cost = costs.get(name)!;
      const driver = autoDriver.has(name)
        ? 'node driver; native for the warm cell if near the floor'
        : `${cost.driver} driver`;
      return `  ${name}: ${cost.ops} operations${cost.bytes > 0 ? `, ${cost.bytes} bytes` : ''} per repetition (${driver})`;
    }),
    '',
  );
  lines.push(
    '',
    `${steps.length} steps: ${count('warmup')} warm-ups, ${repetitions.length} recorded repetitions (${repetitions.filter((step) => step.traced).length} traced, ${repetitions.filter((step) => step.dropCaches).length} after drop_caches), ${count('remount')} remounts`,
    `estimated time: about ${formatSeconds(estimateSeconds(steps, costs))} (fixed per-step costs, not measured on this machine), plus dataset and image preparation and mounting`,
  );
  return `${lines.join('\n')}\n`;
}
