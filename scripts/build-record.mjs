// Bundles `tail2 record`'s code (dist/daemon/cli/record-command.js, as tsc wrote it, with every
// module and npm package it imports) into dist/bundle/record-command.js, which the CLI loads
// instead when it is there. One file to read and compile instead of ~150 (zod alone is ~100):
// Node 20 has no compile cache, and module resolution is most of a recording's start-up.
// Renderers imported on demand (write-profile.ts) become chunks of their own next to it.
// The native addon and tail2-reader are still found from the bundle's own path (native-addon.ts,
// reader-process.ts walk up from it). Run from the package root: node scripts/build-record.mjs
import { build } from 'rolldown';

await build({
  input: './dist/daemon/cli/record-command.js',
  platform: 'node',
  tsconfig: false,
  logLevel: 'warn',
  // Native .node files and the packages that load them stay outside: require()d at run time.
  external: [/\.node$/, '@resvg/resvg-js'],
  output: { dir: 'dist/bundle', format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
});
