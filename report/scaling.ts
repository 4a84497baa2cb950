import { parseReadersCellName } from '../results/cell-name.js';
import { decodeHistogram, mergeHistograms } from '../results/histogram.js';
import type { CacheState, Measurement } from '../results/schema.js';
import { percentile } from '../results/statistics.js';
import { type CacheSection, KERNEL_SETUP, medianPerOp, type Ratio, type ReportModel } from './model.js';

/**
 * The scaling curve: a workload measured at several reader counts (cells NAME@N of one run), its
 * throughput against N per setup with kernel-erofs's curve as the reference, and where the time
 * goes at each N: daemon CPU and context switches per operation (timed repetitions), FUSE
 * send→end latency and requests in flight (traced repetition). Read from the result file only.
 */

export interface ScalingPoint {
  readers: number;
  /** The cell's workload name (NAME@N). */
  cell: string;
  /** Operations per second, or bytes per second for a workload judged by throughput (median). */
  throughput: number;
  /** Time ratio to kernel-erofs at the same N (above 1 slower); null for kernel-erofs or without it. */
  vsKernel: Ratio | null;
  /** Throughput over the same setup's at the smallest N of the curve. */
  speedup: number | null;
  daemonCpuPerOpNs: number | null;
  /** Voluntary and involuntary context switches of the daemon per operation. */
  daemonCtxSwitchesPerOp: number | null;
  /** FUSE requests per operation (traced repetition). */
  requestsPerOp: number | null;
  /** Median and 99th percentile of send→end over every answered request of the traced repetitions. */
  sendToEndP50Ns: number | null;
  sendToEndP99Ns: number | null;
  /** Time-weighted mean and largest number of requests in flight (median and max over traced repetitions). */
  meanDepth: number | null;
  maxDepth: number | null;
}

export interface ScalingCurve {
  cache: CacheState;
  /** The workload without its @N. */
  workload: string;
  /** 'B/s' when throughput is bytes per second, else 'op/s'. */
  unit: 'B/s' | 'op/s';
  readers: number[];
  setups: string[];
  point(setup: string, readers: number): ScalingPoint | undefined;
}

const median = (values: readonly number[]) => (values.length > 0 ? percentile(values, 0.5) : null);

function throughputOf(measurement: Measurement): number {
  const { metric, value, throughput } = measurement.summary;
  return metric.unit === 'B/s' ? value.median : throughput.opsPerSec;
}

function fuseFigures(measurement: Measurement) {
  const traced = measurement.repetitions.filter((repetition) => repetition.traced && repetition.fuse);
  const histograms = traced.flatMap((repetition) =>
    Object.values(repetition.fuse!).flatMap((opcode) =>
      opcode.histogram ? [decodeHistogram(opcode.histogram)] : [],
    ),
  );
  const merged = histograms.length > 0 ? mergeHistograms(histograms) : null;
  const inFlight = traced.flatMap((repetition) => (repetition.fuseInFlight ? [repetition.fuseInFlight] : []));
  return {
    sendToEndP50Ns: merged && merged.count > 0 ? merged.percentile(0.5) : null,
    sendToEndP99Ns: merged && merged.count > 0 ? merged.percentile(0.99) : null,
    meanDepth: median(inFlight.map((entry) => entry.meanDepth)),
    maxDepth: inFlight.length > 0 ? Math.max(...inFlight.map((entry) => entry.maxDepth)) : null,
  };
}

function curvesOf(section: CacheSection): ScalingCurve[] {
  const byWorkload = new Map<string, Array<{ readers: number; cell: string }>>();
  for (const cell of section.workloads) {
    const { workload, readers } = parseReadersCellName(cell);
    const list = byWorkload.get(workload) ?? [];
    list.push({ readers, cell });
    byWorkload.set(workload, list);
  }
  const curves: ScalingCurve[] = [];
  for (const [workload, members] of byWorkload) {
    // A curve needs more than one reader somewhere: a lone N=1 cell is the main table's business.
    if (!members.some((member) => member.readers > 1)) continue;
    members.sort((a, b) => a.readers - b.readers);
    const setups = section.setups.filter((setup) =>
      members.some((member) => section.cell(setup, member.cell)?.measurement.status === 'ok'),
    );
    const points = new Map<string, ScalingPoint>();
    let unit: ScalingCurve['unit'] = 'op/s';
    for (const setup of setups) {
      let base: number | null = null;
      for (const member of members) {
        const found = section.cell(setup, member.cell);
        if (found?.measurement.status !== 'ok' || found.measurement.summary.value.n === 0) continue;
        const { measurement } = found;
        if (measurement.summary.metric.unit === 'B/s') unit = 'B/s';
        const throughput = throughputOf(measurement);
        base ??= throughput;
        points.set(`${setup}\0${member.readers}`, {
          readers: member.readers,
          cell: member.cell,
          throughput,
          vsKernel: setup === KERNEL_SETUP ? null : found.vsKernel,
          speedup: base > 0 ? throughput / base : null,
          daemonCpuPerOpNs: measurement.summary.perOp.daemonCpuNs,
          daemonCtxSwitchesPerOp: medianPerOp(measurement, (repetition) =>
            repetition.daemon
              ? repetition.daemon.voluntaryCtxSwitches + repetition.daemon.involuntaryCtxSwitches
              : null,
          ),
          requestsPerOp: measurement.summary.perOp.fuseRequests,
          ...fuseFigures(measurement),
        });
      }
    }
    curves.push({
      cache: section.cache,
      workload,
      unit,
      readers: members.map((member) => member.readers),
      setups: setups.filter((setup) => members.some((member) => points.has(`${setup}\0${member.readers}`))),
      point: (setup, readers) => points.get(`${setup}\0${readers}`),
    });
  }
  return curves;
}

/** Every scaling curve of a result, per cache state, in the run's workload order. */
export function scalingCurves(model: ReportModel): ScalingCurve[] {
  return model.sections.flatMap(curvesOf);
}
