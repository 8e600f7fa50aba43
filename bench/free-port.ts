import { createServer } from 'node:net';

/** A loopback TCP port free at the moment of asking (the kernel picks it), for a daemon's web listener. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
