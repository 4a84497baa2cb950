import { basename } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Ends a micro benchmark over a bad flag value with one line and exit status 2. */
export function refuseFlag(script: string, message: string): never {
  process.stderr.write(`${basename(script, '.js')}: ${message}\n`);
  process.exit(2);
}

/**
 * A micro benchmark's flags: an unknown flag or a stray argument ends the script with one line
 * and exit status 2, before anything is mounted.
 */
export function benchArgs<T extends NonNullable<ParseArgsConfig['options']>>(script: string, options: T) {
  try {
    return parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    refuseFlag(script, error instanceof Error ? error.message.split('\n').join(' ') : String(error));
  }
}

/** A flag's value as a positive integer, or the script ends with one line. */
export function positiveIntegerFlag(script: string, flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    refuseFlag(script, `${flag} must be a positive integer (got '${text}')`);
  return value;
}

/** A flag's comma-separated values, each one of `known`, or the script ends with one line. */
export function listFlag(script: string, flag: string, text: string, known: readonly string[]): string[] {
  const values = text.split(',');
  for (const value of values)
    if (!known.includes(value)) refuseFlag(script, `${flag} takes ${known.join(', ')} (got '${value}')`);
  return values;
}
