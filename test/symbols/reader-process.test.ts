// The daemon's side of tail2-reader (daemon/symbols/reader-process.ts) against real child processes:
// the real reader, one that crashes on its first request, one that never answers, one that cannot
// be started. Each failure costs the request it happened to, and the next request is served.
import { describe, expect, it } from 'vitest';
import { ReaderProcess } from '../../daemon/symbols/reader-process.js';

const restarts: string[] = [];
const onRestart = (reason: string) => restarts.push(reason);

describe('ReaderProcess', () => {
  it('answers requests in order, one at a time, from the real reader', async () => {
    const reader = new ReaderProcess({ onRestart });
    try {
      const answers = await Promise.all(['_Z1fv', '_Z1gi', 'plain'].map((name) => reader.request<{ names: string[] }>({ op: 'demangle', names: [name] })));
      expect(answers.map((a) => a.names[0])).toEqual(['f()', 'g(int)', 'plain']);
      // A large answer, arriving in many chunks, is put together once.
      const many = Array.from({ length: 20_000 }, (_, i) => `_Z${String(i).length + 1}f${i}v`);
      const { names } = await reader.request<{ names: string[] }>({ op: 'demangle', names: many });
      expect(names).toHaveLength(20_000);
      expect(names[12345]).toBe('f12345()');
      await expect(reader.request({ op: 'no-such-op' })).rejects.toMatchObject({ code: 'EBADREQ' });
      expect(reader.stats()).toMatchObject({ requests: 5, timeouts: 0, crashes: 0, queued: 0 });
    } finally {
      reader.close();
    }
  });

  it('fails the request a reader dies on (a crash by signal), and starts a new one for the next', async () => {
    // Reads a byte of the request, then dies of SIGSEGV, as a reader crashing in libdw would.
    const crashing = new ReaderProcess({ binary: '/bin/sh', args: ['-c', 'head -c 1 >/dev/null; kill -SEGV $$'], onRestart });
    try {
      await expect(crashing.request({ op: 'demangle', names: ['x'] })).rejects.toMatchObject({ code: 'ECRASHED', message: expect.stringContaining('SIGSEGV') });
      const firstPid = restarts.length;
      await expect(crashing.request({ op: 'demangle', names: ['y'] })).rejects.toMatchObject({ code: 'ECRASHED' });
      expect(restarts.length).toBe(firstPid + 1); // a second reader was started, and died the same way
      expect(crashing.stats().crashes).toBe(2);
    } finally {
      crashing.close();
    }
  });

  it('kills a reader that overruns the time budget, and the queue goes on', async () => {
    const silent = new ReaderProcess({ binary: '/bin/sh', args: ['-c', 'exec sleep 600'], timeoutMs: 300, onRestart });
    try {
      const first = silent.request({ op: 'demangle', names: ['x'] });
      const second = silent.request({ op: 'demangle', names: ['y'] });
      await expect(first).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      await expect(second).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(silent.stats()).toMatchObject({ timeouts: 2, queued: 0 });
    } finally {
      silent.close();
    }
  });

  it('says when the reader cannot run, and does not try again for every request', async () => {
    const missing = new ReaderProcess({ binary: '/nonexistent/tail2-reader', onRestart });
    try {
      await expect(missing.request({ op: 'demangle', names: ['x'] })).rejects.toMatchObject({ code: 'ENOREADER', message: expect.stringContaining('/nonexistent/tail2-reader') });
      const before = missing.stats().requests;
      // A burst right after fails at once, without a spawn each.
      const burst = await Promise.allSettled(Array.from({ length: 50 }, () => missing.request({ op: 'demangle', names: ['x'] })));
      expect(burst.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'ENOREADER')).toBe(true);
      expect(missing.stats().requests).toBe(before);
    } finally {
      missing.close();
    }
  });

  it('rejects what is queued when closed', async () => {
    const reader = new ReaderProcess({ binary: '/bin/sh', args: ['-c', 'exec sleep 600'], timeoutMs: 60_000 });
    const pending = reader.request({ op: 'demangle', names: ['x'] });
    const queued = reader.request({ op: 'demangle', names: ['y'] });
    reader.close();
    await expect(pending).rejects.toMatchObject({ code: 'ECLOSED' });
    await expect(queued).rejects.toMatchObject({ code: 'ECLOSED' });
    await expect(reader.request({ op: 'demangle', names: ['z'] })).rejects.toMatchObject({ code: 'ECLOSED' });
  });
});
