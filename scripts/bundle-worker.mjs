// Bundles the devfuse serving thread (dist/fuse/transports/devfuse-worker.js and the ~25 modules
// it loads: the FUSE server, both backends, the EROFS reader) into one ES module beside it, with a
// list of its inputs for the daemon's staleness check (fuse/transports/worker-bundle.ts).
// Why: every fresh daemon starts a worker thread, and its ESM loader resolving, reading and
// linking those files one by one was the largest part of the daemon's cold start.
// Kept out of the bundle: npm packages (native bindings load from node_modules), the native
// syscalls module (its require path is relative to dist/lib/, and the external import keeps
// that file where it is), and the io_uring thread's module (only a ring thread loads it).
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const directory = join(root, 'dist/fuse/transports/');
const result = await build({
  entryPoints: [`${directory}devfuse-worker.js`],
  outfile: `${directory}devfuse-worker.bundle.js`,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  external: ['./devfuse-ring.js'],
  plugins: [
    {
      // Every module's import of the native syscalls module (from transports/, erofs/, ...) stays
      // one external import of dist/lib/syscalls.js, written relative to the bundle.
      name: 'syscalls-external',
      setup(builder) {
        builder.onResolve({ filter: /(^|\/)lib\/syscalls\.js$/ }, () => ({
          path: '../../lib/syscalls.js',
          external: true,
        }));
      },
    },
  ],
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  absWorkingDir: root,
});
const inputs = Object.keys(result.metafile.inputs).map((input) => relative(directory, join(root, input)));
writeFileSync(`${directory}devfuse-worker.bundle.json`, `${JSON.stringify({ inputs }, null, 2)}\n`);
