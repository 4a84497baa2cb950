/**
 * The handshake between the measuring process and a client driver (Node or native), over the
 * client's stdin and stdout: the client prints READY once loaded, waits for GO, runs the stream,
 * writes one float64 latency (ns) per operation to its latency file, and prints one JSON report.
 */
export const CLIENT_READY = 'ready';
export const CLIENT_GO = 'go';

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
