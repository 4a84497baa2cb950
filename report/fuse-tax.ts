import type { CacheState } from '../results/schema.js';
import { KERNEL_SETUP, medianPerOp, type Ratio, type ReportModel } from './model.js';

/**
 * The FUSE tax: what each FUSE setup pays per client operation beyond in-kernel EROFS. Per
 * workload and FUSE setup (every setup the run records as kind 'fuse', external C daemons
 * included): FUSE requests per operation (traced repetition), context switches per operation of
 * client and daemon together, daemon CPU per operation, and the time ratio to kernel-erofs.
 * kernel-erofs itself is the reference row: no requests, no daemon.
 */

export interface FuseTaxRow {
  cache: CacheState;
  workload: string;
  setup: string;
  /** FUSE requests per client operation, from the traced repetition; null when not traced. */
  requestsPerOp: number | null;
  /** Median over timed repetitions of (client + daemon context switches) / operations. */
  ctxSwitchesPerOp: number | null;
  /** Median over timed repetitions of daemon CPU time / operations; null for kernel-erofs. */
  daemonCpuPerOpNs: number | null;
  /** Time ratio to kernel-erofs (1 for kernel-erofs itself). */
  vsKernel: Ratio | null;
}

/** FUSE setups by the run's own record of each setup's kind. */
function fuseSetups(model: ReportModel): Set<string> {
  return new Set(model.result.setups.filter((setup) => setup.kind === 'fuse').map((setup) => setup.name));
}

export function fuseTaxRows(model: ReportModel): FuseTaxRow[] {
  const rows: FuseTaxRow[] = [];
  const fuse = fuseSetups(model);
  for (const section of model.sections) {
    const setups = section.setups.filter((setup) => setup === KERNEL_SETUP || fuse.has(setup));
    if (!setups.some((setup) => setup !== KERNEL_SETUP)) continue;
    for (const workload of section.workloads)
      for (const setup of setups) {
        const cell = section.cell(setup, workload);
        if (!cell) continue;
        const { measurement } = cell;
        rows.push({
          cache: section.cache,
          workload,
          setup,
          requestsPerOp: measurement.summary.perOp.fuseRequests,
          ctxSwitchesPerOp: medianPerOp(
            measurement,
            (repetition) =>
              repetition.client.voluntaryCtxSwitches +
              repetition.client.involuntaryCtxSwitches +
              (repetition.daemon
                ? repetition.daemon.voluntaryCtxSwitches + repetition.daemon.involuntaryCtxSwitches
                : 0),
          ),
          daemonCpuPerOpNs: medianPerOp(measurement, (repetition) => repetition.daemon?.cpuNs ?? null),
          vsKernel: setup === KERNEL_SETUP ? { ratio: 1, low: 1, high: 1 } : cell.vsKernel,
        });
      }
  }
  return rows;
}
