import { spawn, type ChildProcess } from 'node:child_process';

/** A unix datagram socket standing in for systemd's notification socket. */
export interface SystemdStandIn {
  /** Every datagram received so far, in order. */
  received: string[];
  /** Resolves once a datagram satisfying `check` arrived. */
  waitFor(check: (datagram: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): void;
}

/**
 * Binds `address` (a path, or '@name' for an abstract socket) and collects what arrives. Node has
 * no datagram unix sockets; python3's socket module has, and python3 is on every machine that
 * builds the addon (node-gyp needs it).
 */
export async function startSystemdStandIn(address: string): Promise<SystemdStandIn> {
  const script = [
    'import socket, sys, json',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    'a = sys.argv[1]',
    "s.bind('\\0' + a[1:] if a.startswith('@') else a)",
    "print('bound', flush=True)",
    'while True:',
    '    print(json.dumps(s.recv(65536).decode()), flush=True)',
  ].join('\n');
  const child: ChildProcess = spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const received: string[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let bound: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (bound = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'bound') bound();
      else if (line) received.push(JSON.parse(line) as string);
    }
    for (const waiter of waiters) waiter();
  });
  await ready;
  return {
    received,
    waitFor(check, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const look = (): void => {
          const found = received.find(check);
          if (found === undefined) return;
          waiters.delete(look);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(look);
          reject(new Error(`no matching notification; received: ${JSON.stringify(received)}`));
        }, timeoutMs);
        waiters.add(look);
        look();
      });
    },
    close() {
      child.kill('SIGKILL');
    },
  };
}
