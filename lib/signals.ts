/**
 * SIGINT and SIGTERM from the first instruction on: loading a command's modules takes a while,
 * and a signal in that window must neither kill the process with no exit status nor be lost.
 * Until a command takes the signals over, they are held; a command that does not take them
 * over ends at once with the conventional status (128 + signal number), before creating anything.
 */

/** The signals a command handles, all of which stop it. */
export const HANDLED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type HandledSignal = (typeof HANDLED)[number];
const NUMBERS: Record<HandledSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

const held: HandledSignal[] = [];
const hold = (signal: NodeJS.Signals) => held.push(signal as HandledSignal);

export function holdSignals(): void {
  for (const signal of HANDLED) process.on(signal, hold);
}

function stopHolding(): void {
  for (const signal of HANDLED) process.off(signal, hold);
}

/** The exit status of a process that stops because of `signal`. */
export function signalExitStatus(signal: HandledSignal): number {
  return 128 + NUMBERS[signal];
}

/** For commands without handlers of their own: a signal held so far ends the process now. */
export function releaseSignals(): void {
  stopHolding();
  const first = held[0];
  if (first) process.exit(signalExitStatus(first));
}

/**
 * Installs `handler` for SIGINT, SIGTERM and SIGHUP and replays what arrived before; returns the
 * function that removes it again.
 */
export function takeSignals(handler: (signal: HandledSignal) => void): () => void {
  for (const signal of HANDLED) process.on(signal, handler);
  stopHolding();
  for (const signal of held.splice(0)) handler(signal);
  return () => {
    for (const signal of HANDLED) process.off(signal, handler);
  };
}
