// Bundles the browser code of views/client/ (type-checked first by scripts/setup.sh with
// views/client/tsconfig.json) into classic scripts, each one file with what it imports:
//   dist/static/incident.js         the incident page's script, served at /static/incident.js
//   dist/embedded/flamegraph-svg.js  the script daemon/formats/flamegraph-svg.ts puts in every
//                                    interactive SVG, so a downloaded SVG works offline
// Run from the package root: node scripts/build-client.mjs
import { build } from 'rolldown';

const common = { platform: 'browser', tsconfig: false, logLevel: 'warn' };

await build([
  {
    ...common,
    input: './views/client/incident.ts',
    output: { file: 'dist/static/incident.js', format: 'iife', sourcemap: true },
  },
  {
    ...common,
    input: './views/client/svg-flamegraph.ts',
    // No source map: the SVG carries the script alone.
    output: { file: 'dist/embedded/flamegraph-svg.js', format: 'iife' },
  },
]);
