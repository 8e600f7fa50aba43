// Which folder may import which (docs/internals.md, "Layout"). `npm test` fails when an arrow points
// the wrong way or a cycle appears: `npx depcruise daemon triggers notifiers bench test harness`.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A cycle makes two modules one: neither can be read, tested or changed alone.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'model-imports-nothing',
      comment: 'daemon/model/ is the shared vocabulary every stage imports: it imports no stage.',
      severity: 'error',
      from: { path: '^daemon/model/' },
      to: { path: '^(daemon|triggers|notifiers|bench|test|harness|views)/', pathNot: '^daemon/model/' },
    },
    {
      name: 'triggers-import-only-the-model',
      comment: 'The rules stage knows the model, never the daemon or the notifiers.',
      severity: 'error',
      from: { path: '^triggers/' },
      to: { path: '^(daemon|notifiers|bench|test|harness)/', pathNot: '^daemon/model/' },
    },
    {
      name: 'notifiers-import-only-the-model',
      comment: 'The notification stage knows the model, never the daemon or the rules.',
      severity: 'error',
      from: { path: '^notifiers/' },
      to: { path: '^(daemon|triggers|bench|test|harness)/', pathNot: '^daemon/model/' },
    },
    {
      name: 'only-wiring-imports-triggers-and-notifiers',
      comment: 'Only the daemon wiring (daemon/tail2d/) and the commands (daemon/cli/) put the stages together.',
      severity: 'error',
      from: { path: '^daemon/', pathNot: '^daemon/(tail2d|cli)/' },
      to: { path: '^(triggers|notifiers)/' },
    },
    {
      name: 'code-imports-no-tests',
      comment: 'What ships never depends on tests, benchmarks or their harness.',
      severity: 'error',
      from: { path: '^(daemon|triggers|notifiers)/' },
      to: { path: '^(bench|test|harness)/' },
    },
    {
      name: 'browser-code-imports-only-browser-code',
      comment: 'views/client/ runs in browsers (and its flame-style.ts in Node too): it imports nothing outside views/client/.',
      severity: 'error',
      from: { path: '^views/client/' },
      to: { pathNot: '^views/client/' },
    },
    {
      name: 'server-imports-only-the-shared-browser-module',
      comment: 'The server renderers share views/client/flame-style.ts with the browser; the rest of views/client/ is browser-only.',
      severity: 'error',
      from: { path: '^(daemon|triggers|notifiers|bench|harness)/' },
      to: { path: '^views/client/', pathNot: '^views/client/flame-style\\.ts$' },
    },
    {
      name: 'tests-import-no-benchmarks',
      comment: 'What tests and benchmarks share lives in harness/.',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: '^bench/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
