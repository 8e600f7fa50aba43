// Bundles `tail2 record`'s code (dist/daemon/cli/record-command.js, as tsc wrote it, with every
// module and npm package it imports) into dist/bundle/record-command.js, which the CLI loads
// instead when it is there. One file to read and compile instead of ~150 (zod alone is ~100):
// Node 20 has no compile cache, and module resolution is most of a recording's start-up.
// Renderers imported on demand (write-profile.ts) become chunks of their own next to it.
// The native addon and tail2-reader are still found from the bundle's own path (native-addon.ts,
// reader-process.ts walk up from it). Run from the package root: node scripts/build-record.mjs
import { resolve } from 'node:path';
import { build } from 'rolldown';

// Tail2Error stays the CLI's own module (dist/daemon/model/tail2-error.js), imported from the
// bundle, not copied into it: the CLI tells usage errors (exit code 2) from others with
// `instanceof Tail2Error`, which a second copy of the class would fail.
const tail2Error = resolve('dist/daemon/model/tail2-error.js');

await build({
  input: './dist/daemon/cli/record-command.js',
  platform: 'node',
  tsconfig: false,
  logLevel: 'warn',
  // Native .node files and the packages that load them stay outside: require()d at run time.
  external: (id, importer) => /\.node$/.test(id) || id === '@resvg/resvg-js' || (importer !== undefined && resolve(importer, '..', id) === tail2Error),
  output: {
    dir: 'dist/bundle',
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    paths: (id) => (id.endsWith('tail2-error.js') ? '../daemon/model/tail2-error.js' : id),
  },
});
