import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../daemon/sampler/native-addon.js';
import { testOutput } from './helpers/fixtures.js';
import { startSystemdStandIn } from './helpers/systemd-stand-in.js';

// sd_notify from the addon, received by a unix datagram socket standing in for systemd (Node has
// no datagram unix sockets; python3's socket module has).

const addon = loadNativeAddon();
const dir = mkdtempSync(join(testOutput, 'sd-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sdNotify', () => {
  it('sends each state as one datagram to a path socket', async () => {
    const path = join(dir, 'notify.sock');
    const standIn = await startSystemdStandIn(path);
    try {
      expect(addon.sdNotify('READY=1\nSTATUS=sampling 2 CPUs', path)).toBe(true);
      expect(addon.sdNotify('STOPPING=1', path)).toBe(true);
      await standIn.waitFor((m) => m === 'STOPPING=1');
      expect(standIn.received).toEqual(['READY=1\nSTATUS=sampling 2 CPUs', 'STOPPING=1']);
    } finally {
      standIn.close();
    }
  });

  it('reaches an abstract socket named with @, and reads $NOTIFY_SOCKET when no path is given', async () => {
    const name = `@tail2-test-${process.pid}`;
    const standIn = await startSystemdStandIn(name);
    process.env.NOTIFY_SOCKET = name;
    try {
      expect(addon.sdNotify('WATCHDOG=1')).toBe(true);
      expect(await standIn.waitFor((m) => m === 'WATCHDOG=1')).toBe('WATCHDOG=1');
    } finally {
      delete process.env.NOTIFY_SOCKET;
      standIn.close();
    }
  });

  it('answers false without a socket, and says why when the socket is not there', () => {
    delete process.env.NOTIFY_SOCKET;
    expect(addon.sdNotify('READY=1')).toBe(false);
    expect(() => addon.sdNotify('READY=1', join(dir, 'nobody-listens.sock'))).toThrow(/cannot notify systemd at .*nobody-listens\.sock: No such file or directory/);
    expect(() => addon.sdNotify('READY=1', 'relative.sock')).toThrow(/neither an absolute path nor an abstract socket/);
  });
});
