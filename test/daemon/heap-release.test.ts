import { describe, expect, it, vi } from 'vitest';
import { HeapRelease } from '../../daemon/tail2d/heap-release.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('HeapRelease', () => {
  it('collects once after captures in quick succession, and again after the next one', async () => {
    const gc = vi.fn();
    const release = new HeapRelease(gc, 20);
    release.afterCapture();
    release.afterCapture();
    expect(gc).not.toHaveBeenCalled();
    await vi.waitFor(() => expect(gc).toHaveBeenCalledTimes(1));
    // Long enough for a second timer, had the second capture started one.
    await sleep(100);
    expect(gc).toHaveBeenCalledTimes(1);
    release.afterCapture();
    await vi.waitFor(() => expect(gc).toHaveBeenCalledTimes(2));
  });

  it('does not collect after cancel (the daemon stopping)', async () => {
    const gc = vi.fn();
    const release = new HeapRelease(gc, 20);
    release.afterCapture();
    release.cancel();
    await sleep(100);
    expect(gc).not.toHaveBeenCalled();
  });

  it('does nothing when node runs without --expose-gc', () => {
    const release = new HeapRelease(undefined, 20);
    expect(() => release.afterCapture()).not.toThrow();
    release.cancel();
  });

  it('uses the gc of --expose-gc, which tail2d is started with (systemd/tail2.service)', async () => {
    const { daemonNodeFlags } = await import('../../harness/daemon-command.js');
    expect(daemonNodeFlags).toContain('--expose-gc');
  });
});
