import type { CacheState, Measurement, Repetition, ResultFile } from '../results/schema.js';
import { writeResultFile } from '../results/store.js';
import type { Workload } from '../workloads/catalog.js';
import { type CellContext, measurementWarnings, summarize } from './summarize.js';

/**
 * The result file as a run fills it: repetitions are collected per cell (workload × cache state ×
 * setup); when the plan says a cell is complete its measurements are built (summary, warnings)
 * and the file is saved, so an interrupted run keeps every finished measurement.
 */

/** What the builder needs of a workload to turn repetitions into a measurement. */
export interface CellWorkload {
  workload: Workload;
  /** The client that ran it (node, native, fio, shell). */
  driver: string;
  plannedOps: number;
}

interface PendingCell {
  repetitions: Repetition[];
  traceOverruns: number;
  /** Why the cell could not be measured. */
  failure: string | null;
}

const key = (workload: string, cache: CacheState, setup: string) => `${workload}\0${cache}\0${setup}`;

export class ResultBuilder {
  readonly #pending = new Map<string, PendingCell>();
  /** Drivers chosen automatically, by "workload cache". */
  readonly #drivers = new Map<string, { driver: string; reason: string }>();

  constructor(
    readonly result: ResultFile,
    private readonly output: string,
    /** FUSE kernel caching is on: a warm repetition should send no READ for data the warm-up read. */
    private readonly warmDataCached: boolean,
  ) {}

  save(): void {
    writeResultFile(this.output, this.result);
  }

  #cell(workload: string, cache: CacheState, setup: string): PendingCell {
    const id = key(workload, cache, setup);
    let cell = this.#pending.get(id);
    if (!cell) {
      cell = { repetitions: [], traceOverruns: 0, failure: null };
      this.#pending.set(id, cell);
    }
    return cell;
  }

  addRepetition(
    workload: string,
    cache: CacheState,
    setup: string,
    repetition: Repetition,
    traceOverruns: number,
  ): void {
    const cell = this.#cell(workload, cache, setup);
    cell.repetitions.push(repetition);
    cell.traceOverruns += traceOverruns;
  }

  /** The cell cannot be measured: its remaining steps are skipped, and it is recorded as failed. */
  fail(workload: string, cache: CacheState, setup: string, reason: string): void {
    const cell = this.#cell(workload, cache, setup);
    cell.failure ??= reason;
  }

  /** The cell's repetitions ran with `driver`, chosen for `reason` (recorded with its measurements). */
  chooseDriver(workload: string, cache: CacheState, driver: string, reason: string): void {
    this.#drivers.set(`${workload} ${cache}`, { driver, reason });
  }

  hasFailed(workload: string, cache: CacheState, setup: string): boolean {
    return this.#pending.get(key(workload, cache, setup))?.failure != null;
  }

  /** Builds, records and saves the measurements of `setups` for one workload and cache state. */
  complete(
    cellWorkload: CellWorkload,
    cache: CacheState,
    setups: readonly string[],
    destination: 'floor' | 'measurements',
  ): Measurement[] {
    const { workload, plannedOps } = cellWorkload;
    const chosen = this.#drivers.get(`${workload.name} ${cache}`);
    const driver = chosen?.driver ?? cellWorkload.driver;
    const bases = setups.map((setup) => {
      const cell = this.#cell(workload.name, cache, setup);
      this.#pending.delete(key(workload.name, cache, setup));
      const wrong = cell.repetitions.flatMap((repetition) => repetition.verified?.wrong ?? []);
      const status: Measurement['status'] = cell.failure ? 'failed' : wrong.length > 0 ? 'invalid' : 'ok';
      const reason =
        status === 'failed'
          ? cell.failure
          : status === 'invalid'
            ? `wrong data read: ${wrong.slice(0, 3).join('; ')}${wrong.length > 3 ? ` (and ${wrong.length - 3} more)` : ''}`
            : null;
      return {
        base: {
          setup,
          workload: workload.name,
          family: workload.family,
          params: workload.params,
          cache,
          driver,
          driverChoice: chosen?.reason ?? null,
          status,
          reason,
          repetitions: cell.repetitions,
          summary: summarize(workload.metric, cell.repetitions),
        },
        traceOverruns: cell.traceOverruns,
      };
    });
    const floor = this.result.floor.find((measurement) => measurement.workload === workload.name);
    const context: CellContext = {
      plannedOps,
      warmDataCached: this.warmDataCached,
      others: bases.map((entry) => entry.base),
    };
    const measurements = bases.map(({ base, traceOverruns }) => ({
      ...base,
      warnings: [
        ...(base.reason ? [`${base.status}: ${base.reason}`] : []),
        ...measurementWarnings(base, destination === 'floor' ? undefined : floor, traceOverruns, context),
      ],
    }));
    const counts = new Set(
      measurements.flatMap((measurement) => measurement.repetitions.map((repetition) => repetition.opCount)),
    );
    if (counts.size > 1)
      this.result.warnings.push(
        `op counts differ across setups: ${workload.name} ${cache} performed ${[...counts].join(', ')} operations per repetition`,
      );
    this.result[destination].push(...measurements);
    this.save();
    return measurements;
  }
}
