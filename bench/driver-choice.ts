import type { OpsDriver } from './measure/client-processes.js';
import { FLOOR_FACTOR } from './summarize.js';

/**
 * The automatic driver (`--driver auto`, the default): the Node client costs a few µs per call
 * of its own, which dominates cells where the filesystem answers from warm caches in about as
 * long. Those cells (warm metadata workloads within FLOOR_FACTOR of the floor in their warm-up)
 * record their repetitions with the native replayer instead, every setup and the floor alike, so
 * they still compare like with like. Every other cell keeps the Node client.
 */

export interface DriverChoice {
  driver: OpsDriver;
  /** Why, in one line, as recorded with the measurement. */
  reason: string;
}

/**
 * `warmupNsPerOp`: the last warm-up's time per operation of each setup (the floor included), with
 * the Node client. Returns the driver for the cell's recorded repetitions.
 */
export function chooseDriver(
  warmupNsPerOp: ReadonlyMap<string, number>,
  floor: string,
  nativeAvailable: boolean,
): DriverChoice {
  const floorNs = warmupNsPerOp.get(floor);
  if (floorNs === undefined || floorNs <= 0)
    return { driver: 'node', reason: 'auto: no floor warm-up to compare with' };
  const closest = [...warmupNsPerOp]
    .filter(([setup]) => setup !== floor)
    .map(([setup, ns]) => ({ setup, ratio: ns / floorNs }))
    .sort((a, b) => a.ratio - b.ratio)[0];
  if (!closest) return { driver: 'node', reason: 'auto: no setup warmed up' };
  const figure = `${closest.setup}'s warm-up was ${closest.ratio.toFixed(2)}× the floor's with the node client`;
  if (closest.ratio >= FLOOR_FACTOR) return { driver: 'node', reason: `auto: node, ${figure}` };
  if (!nativeAvailable)
    return { driver: 'node', reason: `auto: node (the native driver is not built), ${figure}` };
  return { driver: 'native', reason: `auto: native, ${figure} (below ${FLOOR_FACTOR}×)` };
}
