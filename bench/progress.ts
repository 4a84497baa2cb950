/**
 * Live progress of a run: one rewritten status line on a terminal, plain lines otherwise (CI
 * logs, pipes). Progress goes to stderr so stdout carries only the summary.
 */

export interface ProgressEvent {
  done: number;
  total: number;
  setup: string;
  workload: string;
  cache: string;
  repetition: string;
}

export interface Progress {
  /** A repetition is about to run. */
  step(event: ProgressEvent): void;
  /** A line that must stay visible (a measurement finished, a setup skipped). */
  note(message: string): void;
  end(): void;
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds >= 60
    ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
    : `${seconds}s`;
}

/** Without a terminal, a step line at most this often, so CI logs show the ETA without a flood. */
const PLAIN_STEP_INTERVAL_MS = 15_000;

export function createProgress(
  stream: NodeJS.WriteStream = process.stderr,
  options: { quiet?: boolean } = {},
): Progress {
  const started = Date.now();
  const tty = stream.isTTY === true;
  let statusShown = false;
  let lastPlainStep = Number.NEGATIVE_INFINITY;
  const clearStatus = () => {
    if (tty && statusShown) stream.write('\r\x1b[K');
    statusShown = false;
  };
  return {
    step(event) {
      if (options.quiet) return;
      const elapsed = Date.now() - started;
      const eta = event.done > 0 ? formatDuration((elapsed / event.done) * (event.total - event.done)) : '?';
      const status = `${event.done}/${event.total}, ~${eta} left`;
      const what = `${event.workload} ${event.cache} ${event.setup} ${event.repetition}`;
      if (!tty) {
        if (elapsed - lastPlainStep < PLAIN_STEP_INTERVAL_MS) return;
        lastPlainStep = elapsed;
        stream.write(`[${formatDuration(elapsed)}] step ${status}: ${what}\n`);
        return;
      }
      const line = `[${status}, ${formatDuration(elapsed)}] ${what}`;
      // A terminal that reports 0 columns (script(1), some CI shells) gets the whole line.
      const columns = stream.columns || 0;
      stream.write(`\r\x1b[K${columns > 1 ? line.slice(0, columns - 1) : line}`);
      statusShown = true;
    },
    note(message) {
      if (options.quiet) return;
      clearStatus();
      stream.write(`${tty ? '' : `[${formatDuration(Date.now() - started)}] `}${message}\n`);
    },
    end() {
      clearStatus();
    },
  };
}
