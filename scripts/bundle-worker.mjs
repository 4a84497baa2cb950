// Bundles the devfuse serving thread (dist/fuse/transports/devfuse-worker.js and the ~25 modules
// it loads: the FUSE server, both backends, the EROFS reader) into one CommonJS file beside it, with
// a list of its inputs for the daemon's staleness check (fuse/transports/worker-bundle.ts).
// Why: loading those modules was the largest part of a daemon's cold start. One file saves
// resolving and linking them one by one; CommonJS saves the ES module loader, whose own ~35
// internal modules a worker compiles at boot otherwise. A daemon serving on its main thread
// requires the same file (its one export, serveOnMainThread).
// Kept out of the bundle: npm packages (native bindings load from node_modules) and the io_uring
// thread's module (only a ring thread loads it).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const directory = join(root, 'dist/fuse/transports/');
const BUNDLE_URL = '__fusebenchBundleUrl';
const result = await build({
  entryPoints: [`${directory}devfuse-worker.js`],
  outfile: `${directory}devfuse-worker.bundle.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  external: ['./devfuse-ring.js'],
  banner: { js: `const ${BUNDLE_URL} = require('node:url').pathToFileURL(__filename).href;` },
  plugins: [
    {
      // Each module's import.meta.url keeps naming its own file in dist/ (as the bundle's sibling
      // path), so paths it resolves from there (the native syscalls addon) stay right.
      name: 'own-import-meta-url',
      setup(builder) {
        builder.onLoad({ filter: /\/dist\/.*\.js$/ }, ({ path }) => {
          const own = relative(dirname(`${directory}x`), path);
          return {
            contents: readFileSync(path, 'utf8').replaceAll(
              'import.meta.url',
              `new URL(${JSON.stringify(own)}, ${BUNDLE_URL}).href`,
            ),
            loader: 'js',
          };
        });
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
