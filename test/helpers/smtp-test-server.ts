// The SMTP test server lives with the benchmarks, which measure delivery against it too.
export * from '../../harness/smtp-test-server.js';
