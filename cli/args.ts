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
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // parseArgs explains some errors over several lines (a value starting with '-'): keep them on one.
    const message = error instanceof Error ? error.message.split('\n').join(' ') : String(error);
    const unknown = /Unknown option '(-[^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) {
      const suggestion = unknown.startsWith('--')
        ? closestName(unknown.slice(2), Object.keys(options))
        : null;
      const hint = suggestion ? ` (did you mean --${suggestion}?)` : '';
      throw new UsageError(
        `${command}: unknown option '${unknown}'${hint}; usage: fusebench ${positionals.usage}`,
      );
    }
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

/** Edit distance (insertions, deletions, substitutions) between two short strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known name a mistyped one most likely meant: within a third of its length in edits, or a prefix. */
export function closestName(typed: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const distance = name.startsWith(typed) ? 0.5 : editDistance(typed, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(typed.length / 3)) ? best : null;
}

/**
 * `--repetitions -3` reads to parseArgs as a flag followed by an unknown option ("ambiguous");
 * joined into `--repetitions=-3` the value reaches the flag's own check, which says what it takes.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const joined: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    const next = argv[index + 1];
    const name = argument.startsWith('--') ? argument.slice(2) : null;
    const takesValue = name !== null && !name.includes('=') && options[name]?.type === 'string';
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${argument}=${next}`);
      index++;
    } else {
      joined.push(argument);
    }
  }
  return joined;
}

function describeCount({ min, max }: { min: number; max: number }): string {
  if (min === max) return `${min} argument${min === 1 ? '' : 's'}`;
  return `${min} to ${max} arguments`;
}

/** Parses a number flag in [0, max]; `what` names it in the error. */
export function parseNumberFlag(
  what: string,
  value: string | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    throw new UsageError(`${what}: expected a number, got '${value}'`);
  }
  if (number < 0) throw new UsageError(`${what}: must not be negative, got '${value}'`);
  if (number > max) throw new UsageError(`${what}: at most ${max}, got '${value}'`);
  return number;
}

/** Parses an integer flag in [min, max] (min 1 unless given). */
export function parseIntegerFlag(
  what: string,
  value: string | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
  min = 1,
): number {
  const number = parseNumberFlag(what, value, fallback, max);
  if (!Number.isInteger(number)) throw new UsageError(`${what}: expected an integer, got '${value}'`);
  if (number < min) throw new UsageError(`${what}: must be at least ${min}, got '${value}'`);
  return number;
}

/** A setting with a flag for each value (--clone-fd, --shared-fd): both given is an error. */
export function parseEitherFlag(
  names: readonly [whenTrue: string, whenFalse: string],
  values: readonly [boolean | undefined, boolean | undefined],
  fallback: boolean,
): boolean {
  if (values[0] && values[1]) throw new UsageError(`${names[0]} and ${names[1]} contradict each other`);
  return values[0] ? true : values[1] ? false : fallback;
}

/** Parses a byte size such as 4096, 4k, 1M (binary units), at most `max` bytes. */
export function parseSizeFlag(
  what: string,
  value: string | undefined,
  fallback: number,
  max = 2 ** 40,
): number {
  if (value === undefined) return fallback;
  if (/^\s*-/.test(value)) throw new UsageError(`${what}: must not be negative, got '${value}'`);
  const match = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (!match) throw new UsageError(`${what}: expected a size like 4096, 4k or 1M, got '${value}'`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  const bytes = Number(match[1]) * scale;
  if (bytes > max) throw new UsageError(`${what}: at most ${max} bytes, got '${value}'`);
  return bytes;
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
