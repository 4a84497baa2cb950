/**
 * Errors the CLI prints as one line and turns into an exit status, instead of a stack trace.
 * Anything else that reaches the top level is a bug and is printed in full.
 */

/** The user called fusebench wrongly (unknown flag, missing argument): exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The environment or the input cannot serve the request (not root, file missing, busy mount point): exit 1. */
export class FatalError extends Error {
  override readonly name = 'FatalError';
}

/** The message of any thrown value, for one-line reports. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
