import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../lib/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing for every subcommand: an unknown flag, a missing value or a surplus
 * positional argument becomes a one-line UsageError naming the command.
 */
export function parseCommandArgs<T extends Options>(
  command: string,
  argv: string[],
  options: T,
  positionals: { min: number; max: number; usage: string },
) {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs explains some errors over several lines (a value starting with '-'): keep them on one.
    const message = error instanceof Error ? error.message.split('\n').join(' ') : String(error);
    throw new UsageError(`${command}: ${message}; usage: fusebench ${positionals.usage}`);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min || count > positionals.max) {
    throw new UsageError(
      `${command}: expected ${describeCount(positionals)}; usage: fusebench ${positionals.usage}`,
    );
  }
  return parsed;
}

function describeCount({ min, max }: { min: number; max: number }): string {
  if (min === max) return `${min} argument${min === 1 ? '' : 's'}`;
  return `${min} to ${max} arguments`;
}

/** Parses a non-negative number flag; `what` names it in the error. */
export function parseNumberFlag(what: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0) {
    throw new UsageError(`${what}: expected a non-negative number, got '${value}'`);
  }
  return number;
}

/** Parses a positive integer flag. */
export function parseIntegerFlag(what: string, value: string | undefined, fallback: number): number {
  const number = parseNumberFlag(what, value, fallback);
  if (!Number.isInteger(number) || number < 1) {
    throw new UsageError(`${what}: expected a positive integer, got '${value}'`);
  }
  return number;
}

/** Parses a byte size such as 4096, 4k, 1M (binary units). */
export function parseSizeFlag(what: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const match = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (!match) throw new UsageError(`${what}: expected a size like 4096, 4k or 1M, got '${value}'`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  return Number(match[1]) * scale;
}

/** Splits a comma-separated list flag and checks every item against the allowed names. */
export function parseListFlag<N extends string>(
  what: string,
  value: string | undefined,
  allowed: readonly N[],
  fallback: readonly N[],
): N[] {
  if (value === undefined) return [...fallback];
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  for (const item of items) {
    if (!allowed.includes(item as N)) {
      throw new UsageError(`${what}: unknown '${item}' (known: ${allowed.join(', ')})`);
    }
  }
  if (items.length === 0) throw new UsageError(`${what}: empty list`);
  return items as N[];
}
