/**
 * The handshake between the measuring process and a client driver (Node or native), over the
 * client's stdin and stdout: the client prints READY once loaded, waits for GO, runs the stream,
 * writes one float64 latency (ns) per operation to its latency file, and prints one JSON report.
 *
 * The native driver serves one job, named by its arguments, and exits. The Node client serves
 * jobs until its stdin ends: each starts with one JSON line naming the job (ClientJob), answered
 * by READY, or by `error<TAB>message` when the job cannot start (the client stays usable).
 */
export const CLIENT_READY = 'ready';
export const CLIENT_GO = 'go';
export const CLIENT_ERROR = 'error';

export interface ClientJob {
  opsFile: string;
  mountpoint: string;
  latencyFile: string;
}

export function parseJob(line: string): ClientJob {
  const job = JSON.parse(line) as Partial<Record<keyof ClientJob, unknown>>;
  const field = (name: keyof ClientJob): string => {
    const value = job[name];
    if (typeof value !== 'string' || value === '') throw new Error(`job line without ${name}`);
    return value;
  };
  return { opsFile: field('opsFile'), mountpoint: field('mountpoint'), latencyFile: field('latencyFile') };
}

export interface ClientReport {
  wallNs: number;
  opCount: number;
  bytes: number;
  /** Unexpected failures by operation kind. */
  errors: Record<string, number>;
  userNs: number;
  systemNs: number;
  voluntaryCtxSwitches: number;
  involuntaryCtxSwitches: number;
}
