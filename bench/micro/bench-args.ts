import { basename } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * A micro benchmark's flags: an unknown flag or a stray argument ends the script with one line
 * and exit status 2, before anything is mounted.
 */
export function benchArgs<T extends NonNullable<ParseArgsConfig['options']>>(script: string, options: T) {
  try {
    return parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n').join(' ') : String(error);
    process.stderr.write(`${basename(script, '.js')}: ${message}\n`);
    process.exit(2);
  }
}
