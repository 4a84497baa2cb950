import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ErofsImage } from '../../erofs/image.js';
import type { WalkRecord } from '../../lib/tree-walk.js';

/** The committed EROFS fixtures (test/fixtures/erofs, gzipped) and their kernel walks. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../test/fixtures/erofs/', import.meta.url));

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES_DIR)
    .filter((name) => name.endsWith('.erofs.gz'))
    .map((name) => name.slice(0, -'.erofs.gz'.length))
    .sort();
}

/** Unpacks fixture `name` into `dir` and returns the image path. */
export function unpackFixture(name: string, dir: string): string {
  const path = join(dir, `${name}.erofs`);
  writeFileSync(path, gunzipSync(readFileSync(join(FIXTURES_DIR, `${name}.erofs.gz`))));
  return path;
}

export function fixtureTruth(name: string): WalkRecord[] {
  return gunzipSync(readFileSync(join(FIXTURES_DIR, `${name}.truth.jsonl.gz`)))
    .toString()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as WalkRecord);
}

/** Runs `body` on the image at `path` and closes it, whatever happens. */
export function withImage<T>(path: string, body: (image: ErofsImage) => T): T {
  const image = ErofsImage.open(path);
  try {
    return body(image);
  } finally {
    image.close();
  }
}
