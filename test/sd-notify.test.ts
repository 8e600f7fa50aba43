import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../daemon/sampler/native-addon.js';
import { testOutput } from './helpers/fixtures.js';

// sd_notify from the addon, received by a unix datagram socket standing in for systemd (Node has
// no datagram unix sockets; python3's socket module has).

const addon = loadNativeAddon();
const dir = mkdtempSync(join(testOutput, 'sd-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Binds a datagram socket at `address` ('@name' for abstract), then resolves with what `count` datagrams said. */
async function systemdStandIn(address: string, count: number): Promise<{ ready: Promise<void>; received: Promise<string[]> }> {
  const script = [
    'import socket, sys, json',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    'a = sys.argv[1]',
    "s.bind('\\0' + a[1:] if a.startswith('@') else a)",
    "print('bound', flush=True)",
    'print(json.dumps([s.recv(4096).decode() for _ in range(int(sys.argv[2]))]), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, address, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const received = new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.startsWith('bound\n')) markReady();
      const lines = output.split('\n');
      if (lines.length >= 3 && lines[1]) resolve(JSON.parse(lines[1]) as string[]);
    });
    child.on('exit', (code) => (code !== 0 ? reject(new Error(`stand-in exited ${code}`)) : undefined));
  });
  return { ready, received };
}

describe('sdNotify', () => {
  it('sends each state as one datagram to a path socket', async () => {
    const path = join(dir, 'notify.sock');
    const standIn = await systemdStandIn(path, 2);
    await standIn.ready;
    expect(addon.sdNotify('READY=1\nSTATUS=sampling 2 CPUs', path)).toBe(true);
    expect(addon.sdNotify('STOPPING=1', path)).toBe(true);
    expect(await standIn.received).toEqual(['READY=1\nSTATUS=sampling 2 CPUs', 'STOPPING=1']);
  });

  it('reaches an abstract socket named with @, and reads $NOTIFY_SOCKET when no path is given', async () => {
    const name = `@tail2-test-${process.pid}`;
    const standIn = await systemdStandIn(name, 1);
    await standIn.ready;
    process.env.NOTIFY_SOCKET = name;
    try {
      expect(addon.sdNotify('WATCHDOG=1')).toBe(true);
    } finally {
      delete process.env.NOTIFY_SOCKET;
    }
    expect(await standIn.received).toEqual(['WATCHDOG=1']);
  });

  it('answers false without a socket, and says why when the socket is not there', () => {
    delete process.env.NOTIFY_SOCKET;
    expect(addon.sdNotify('READY=1')).toBe(false);
    expect(() => addon.sdNotify('READY=1', join(dir, 'nobody-listens.sock'))).toThrow(/cannot notify systemd at .*nobody-listens\.sock: No such file or directory/);
    expect(() => addon.sdNotify('READY=1', 'relative.sock')).toThrow(/neither an absolute path nor an abstract socket/);
  });
});
