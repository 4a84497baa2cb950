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

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const started = Date.now();
  const tty = stream.isTTY === true;
  let statusShown = false;
  const clearStatus = () => {
    if (tty && statusShown) stream.write('\r\x1b[K');
    statusShown = false;
  };
  return {
    step(event) {
      if (!tty) return;
      const elapsed = Date.now() - started;
      const eta = event.done > 0 ? formatDuration((elapsed / event.done) * (event.total - event.done)) : '?';
      const line = `[${event.done}/${event.total} ${formatDuration(elapsed)}, ~${eta} left] ${event.workload} ${event.cache} ${event.setup} ${event.repetition}`;
      stream.write(`\r\x1b[K${line.slice(0, (stream.columns ?? 100) - 1)}`);
      statusShown = true;
    },
    note(message) {
      clearStatus();
      stream.write(`${tty ? '' : `[${formatDuration(Date.now() - started)}] `}${message}\n`);
    },
    end() {
      clearStatus();
    },
  };
}
