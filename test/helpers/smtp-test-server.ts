// The SMTP test server lives with the benchmarks, which measure delivery against it too.
export * from '../../bench/local-servers/smtp-test-server.js';
