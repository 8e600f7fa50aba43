import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderIncidentFiles } from '../../daemon/capture/incident-files.js';
import { profileOfPids } from '../../daemon/capture/scope-profile.js';
import { readPngText } from '../../daemon/formats/png-text.js';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { loadDeliveryContent } from '../../notifiers/delivery-content.js';
import { testOutput } from '../helpers/fixtures.js';
import { buildProfile } from '../helpers/profile-fixture.js';
import { fixtureRecord, storeIncident } from '../helpers/stored-incident.js';

const dir = mkdtempSync(join(testOutput, 'delivery-content-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadDeliveryContent', () => {
  it('names the hottest functions from summary.json, and still sends when that file is damaged', async () => {
    const store = await IncidentStore.open(dir);
    try {
      const record = await storeIncident(store, { notify: ['oncall-slack'] });
      const content = await loadDeliveryContent(store, record.id, 'https://tail2.example.net/');
      expect(content?.message.topFunctions[0].name).toBe('pg_extension_spin');
      expect(content?.message.url).toBe(`https://tail2.example.net/incidents/${record.id}`);
      expect(content?.flamegraphPng?.byteLength).toBeGreaterThan(1000);

      writeFileSync(store.artifactPath(record.id, 'summary.json')!, '{"samples": 12, "topFunc');
      const damaged = await loadDeliveryContent(store, record.id, 'https://tail2.example.net');
      expect(damaged?.message.topFunctions).toEqual([]);
      expect(damaged?.message.trigger).toContain('cpu');
      expect(await loadDeliveryContent(store, '20260101T000000Z-gone-aaaaaa', 'x')).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('sends the flamegraph of what fired for a process rule, and the whole host otherwise', async () => {
    const store = await IncidentStore.open(dir);
    try {
      const profile = buildProfile([
        { frames: ['main', 'pg_extension_spin'], pid: 4242, comm: 'postgres', count: 60 },
        { frames: ['main', 'compress_block'], pid: 99, comm: 'backup', count: 40 },
      ]);
      const storeWith = async (process: { pid: number; comm: string } | undefined, scoped: boolean) => {
        const record = fixtureRecord({ process, notify: ['oncall-slack'] });
        const scope = process && scoped ? { kind: 'process' as const, label: `${process.comm} (pid ${process.pid})`, pids: new Set([process.pid]), pid: process.pid, profile: profileOfPids(profile, new Set([process.pid])), others: [] } : undefined;
        await store.write(record, (await renderIncidentFiles(record, { profile, trigger: profile, others: [], scope })).files);
        return (await loadDeliveryContent(store, record.id, 'https://tail2.example.net'))!;
      };
      const watched = await storeWith({ pid: 4242, comm: 'postgres' }, true);
      expect(watched.flamegraphOf).toBe('postgres (pid 4242)');
      const shown = readPngText(watched.flamegraphPng!).get('Description');
      expect(shown).toMatch(/^Flamegraph of postgres \(pid 4242\): 60 samples\. Hottest functions \(self\): pg_extension_spin 100\.0%\.$/);
      // Rendered again without the capture's scope, the process's picture is found in the samples.
      expect((await storeWith({ pid: 4242, comm: 'postgres' }, false)).flamegraphOf).toBe('postgres (pid 4242)');
      // A process rule whose process had no samples (no process.png), and a system rule: the host.
      for (const content of [await storeWith({ pid: 5555, comm: 'idle-db' }, false), await storeWith(undefined, false)]) {
        expect(content.flamegraphOf).toBe('every process on db-1');
        expect(readPngText(content.flamegraphPng!).get('Description')).toContain('compress_block');
      }
    } finally {
      store.close();
    }
  });
  it('sends what a memory rule watched in page faults, and the CPU picture when it has none', async () => {
    const store = await IncidentStore.open(dir);
    try {
      const cpu = buildProfile([{ frames: ['main', 'serve_request'], pid: 4242, comm: 'api', count: 50 }]);
      // 30 samples of a MiB each (256 faults of 4 KiB pages): 30 MiB made resident.
      const faultSamples = buildProfile([{ frames: ['main', 'load_cache', 'grow_table'], pid: 4242, comm: 'api', count: 30 }]);
      const faults = { ...faultSamples, kind: 'page_faults' as const, samples: { ...faultSamples.samples, weight: new Float64Array(30).fill(1024 ** 2) } };
      const storeWith = async (metric: 'rss_growth' | 'cpu', others: typeof faults[]) => {
        const base = fixtureRecord({ process: { pid: 4242, comm: 'api' } });
        const record = { ...base, trigger: { ...base.trigger, metric } } as typeof base;
        const rendered = await renderIncidentFiles(record, { profile: cpu, trigger: cpu, others });
        await store.write(record, rendered.files);
        return { names: rendered.files.map(([name]) => name), content: (await loadDeliveryContent(store, record.id, 'https://tail2.example.net'))! };
      };
      const memory = await storeWith('rss_growth', [faults]);
      expect(memory.names).toEqual(expect.arrayContaining(['process.png', 'page_faults.process.png', 'page_faults.process.svg']));
      expect(memory.content.flamegraphOf).toBe('page faults of api (pid 4242)');
      const shown = readPngText(memory.content.flamegraphPng!);
      expect(shown.get('Title')).toMatch(/^Page faults · /);
      expect(shown.get('Description')).toContain('grow_table');
      // The message's functions are the page faults' too, and say what their shares are of.
      expect(memory.content.message.topFunctions.map((f) => f.name)).toEqual(['grow_table']);
      expect(memory.content.message.profile).toEqual({ title: 'Page faults', amount: '30.0 MiB' });
      // The same profiles under a CPU rule: the CPU picture and functions.
      const cpuRule = (await storeWith('cpu', [faults])).content;
      expect(cpuRule.flamegraphOf).toBe('api (pid 4242)');
      expect(cpuRule.message.topFunctions.map((f) => f.name)).toEqual(['serve_request']);
      expect(cpuRule.message.profile).toBeUndefined();
      // A memory rule whose process made nothing resident in the window: the CPU picture.
      const without = await storeWith('rss_growth', []);
      expect(without.names).not.toContain('page_faults.process.png');
      expect(without.content.flamegraphOf).toBe('api (pid 4242)');
      expect(readPngText(without.content.flamegraphPng!).get('Description')).toContain('serve_request');
      expect(without.content.message.topFunctions.map((f) => f.name)).toEqual(['serve_request']);
    } finally {
      store.close();
    }
  });
  it('summarizes the host when what a cgroup rule watched had page faults but no CPU samples', async () => {
    const store = await IncidentStore.open(dir);
    try {
      const cpu = buildProfile([{ frames: ['main', 'compress_block'], pid: 99, comm: 'backup', count: 40 }]);
      const faults = { ...buildProfile([{ frames: ['main', 'read_index'], pid: 4242, comm: 'db', count: 10 }]), kind: 'page_faults' as const };
      const base = fixtureRecord({});
      const record = { ...base, trigger: { ...base.trigger, metric: 'psi_io' as const }, instance: { kind: 'cgroup' as const, path: '/system.slice/db.service', unit: 'db.service' } };
      const pids = new Set([4242]);
      const scope = { kind: 'cgroup' as const, label: 'db.service', pids, cgroup: record.instance.path, unit: 'db.service', profile: profileOfPids(cpu, pids), others: [profileOfPids(faults, pids)] };
      const rendered = await renderIncidentFiles(record, { profile: cpu, trigger: cpu, others: [faults], scope });
      const names = rendered.files.map(([name]) => name);
      // No CPU picture of the cgroup (it had no CPU samples), its page faults' one; the CPU summary is the host's.
      expect(names).not.toContain('cgroup.png');
      expect(names).toContain('page_faults.cgroup.png');
      const summary = JSON.parse(String(rendered.files.find(([name]) => name === 'summary.json')![1])) as { scope?: unknown; topFunctions: { bySelf: Array<{ name: string }> } };
      expect(summary.scope).toBeUndefined();
      expect(summary.topFunctions.bySelf[0].name).toBe('compress_block');
      const faultSummary = JSON.parse(String(rendered.files.find(([name]) => name === 'page_faults.summary.json')![1])) as { scope?: { cgroup: string } };
      expect(faultSummary.scope).toMatchObject({ cgroup: '/system.slice/db.service' });
      await store.write(record, rendered.files);
      // A psi_io rule is not about memory: the message carries the host's CPU picture.
      expect((await loadDeliveryContent(store, record.id, 'https://tail2.example.net'))!.flamegraphOf).toBe('every process on db-1');
    } finally {
      store.close();
    }
  });
});
