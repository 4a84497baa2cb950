import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PreparedDataset } from '../datasets/dataset.js';
import { buildErofsImage, defaultImageOptions } from '../datasets/image.js';
import { buildManifest } from '../datasets/manifest.js';
import { errorMessage } from '../lib/errors.js';
import { createRun } from '../runners/cleanup.js';
import { peerSetupDefinitions } from '../runners/peer-setups.js';
import { defaultSetupContext } from '../runners/setup.js';

/**
 * `fusebench doctor`'s checks of the reference daemons: each peer setup is mounted for real, the
 * way a run mounts it, over a one-file tree and its image, and the file is read back through it.
 * "The program exists" is not enough: erofsfuse once existed and refused every mount.
 */

export interface PeerCheckResult {
  name: string;
  /** skip: the peer cannot run here (not installed, kernel too old); fail: it is there but does not serve. */
  state: 'ok' | 'skip' | 'fail';
  detail: string;
}

const PROBE_FILE = 'doctor/probe.txt';
const PROBE_TEXT = 'fusebench doctor was here\n';

async function probeDataset(cacheDir: string): Promise<PreparedDataset> {
  const tree = join(cacheDir, 'tree');
  mkdirSync(join(tree, 'doctor'), { recursive: true });
  writeFileSync(join(tree, PROBE_FILE), PROBE_TEXT);
  const manifest = buildManifest(tree);
  const image = await buildErofsImage(tree, manifest.contentHash, defaultImageOptions, cacheDir);
  return {
    name: 'doctor',
    source: { kind: 'directory', path: tree },
    sourceDir: tree,
    manifest,
    image,
    cacheDir,
  };
}

/** Mounts every peer setup that can run here and reads the probe file through it. */
export async function checkPeers(): Promise<PeerCheckResult[]> {
  const results: PeerCheckResult[] = [];
  const cacheDir = mkdtempSync(join(tmpdir(), 'fusebench-doctor-'));
  const { runDir, stack } = createRun(`doctor-${process.pid}`);
  try {
    const dataset = await probeDataset(cacheDir);
    const context = defaultSetupContext(dataset, runDir, stack);
    for (const definition of peerSetupDefinitions) {
      const reason = await definition.unavailable(context);
      if (reason) {
        results.push({ name: definition.name, state: 'skip', detail: reason });
        continue;
      }
      const setup = definition.create(context);
      try {
        const mounted = await setup.mount();
        const text = readFileSync(join(mounted.mountpoint, PROBE_FILE), 'utf8');
        if (text !== PROBE_TEXT) throw new Error(`read back ${JSON.stringify(text)}`);
        const rings = mounted.facts.ioUringRings ? `, over ${mounted.facts.ioUringRings} io_uring rings` : '';
        results.push({
          name: definition.name,
          state: 'ok',
          detail: `${mounted.facts.daemon} (${mounted.facts.programOrigin}, libfuse ${mounted.facts.libfuseVersion ?? 'unknown'}): mounted, file read back${rings}`,
        });
      } catch (error) {
        results.push({
          name: definition.name,
          state: 'fail',
          detail: `mount failed: ${errorMessage(error)}`,
        });
      } finally {
        await setup.unmount();
      }
    }
  } finally {
    for (const failure of await stack.unwind())
      results.push({ name: 'cleanup', state: 'fail', detail: failure });
    rmSync(cacheDir, { recursive: true, force: true });
  }
  return results;
}
