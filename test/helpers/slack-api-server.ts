// The local Slack Web API server lives with the benchmarks, which measure delivery against it too.
export * from '../../harness/slack-api-server.js';
