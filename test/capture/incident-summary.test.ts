import { describe, expect, it } from 'vitest';
import type { FunctionShare } from '../../daemon/model/incident-summary.js';
import { summarizeIncident } from '../../daemon/capture/summarize-incident.js';
import { buildProfile } from '../helpers/profile-fixture.js';

// The hot loop of the database moves from old_hot (baseline) to new_hot (incident window).
const baseline = buildProfile([
  { frames: ['main', 'exec', 'old_hot'], count: 60, pid: 100, comm: 'postgres' },
  { frames: ['main', 'exec', 'helper'], count: 20, pid: 100, comm: 'postgres' },
  { frames: ['nginx_main', 'serve'], count: 20, pid: 200, comm: 'nginx' },
]);
const trigger = buildProfile([
  { frames: ['main', 'exec', 'new_hot'], count: 130, pid: 100, comm: 'postgres' },
  // Another thread of the same process, under its own name.
  { frames: ['main', 'exec', 'new_hot'], count: 10, pid: 100, comm: 'pg_worker' },
  { frames: ['main', 'exec', 'old_hot'], count: 20, pid: 100, comm: 'postgres' },
  { frames: ['main', 'exec', 'helper'], count: 20, pid: 100, comm: 'postgres' },
  { frames: ['nginx_main', 'serve'], count: 20, pid: 200, comm: 'nginx' },
]);

const byName = (list: FunctionShare[], name: string): FunctionShare => {
  const found = list.find((f) => f.name === name);
  if (!found) throw new Error(`${name} not listed`);
  return found;
};

describe('summarizeIncident', () => {
  it('names what grew and what shrank, in points of self share', () => {
    const summary = summarizeIncident(trigger, baseline);
    expect(summary.samples).toBe(200);
    expect(summary.baselineSamples).toBe(100);
    expect(summary.scope).toBeUndefined();

    expect(summary.grew.map((g) => g.name)).toEqual(['new_hot']);
    expect(summary.grew[0]).toMatchObject({ kind: 'native', module: '/usr/bin/fixture', selfShareBefore: 0 });
    expect(summary.grew[0].selfShare).toBeCloseTo(0.7, 10);
    expect(summary.grew[0].change).toBeCloseTo(70, 10);

    // old_hot 60% → 10%; helper and serve 20% → 10% each (tied, then by name).
    expect(summary.shrank.map((s) => s.name)).toEqual(['old_hot', 'helper', 'serve']);
    expect(summary.shrank[0].selfShareBefore).toBeCloseTo(0.6, 10);
    expect(summary.shrank[0].selfShare).toBeCloseTo(0.1, 10);
    expect(summary.shrank[0].change).toBeCloseTo(-50, 10);
    expect(summary.shrank[1].change).toBeCloseTo(-10, 10);
  });

  it('lists the top functions by self and by total share, with the baseline beside them', () => {
    const { topFunctions } = summarizeIncident(trigger, baseline);
    expect(topFunctions.bySelf.map((f) => f.name)).toEqual(['new_hot', 'helper', 'old_hot', 'serve']);
    expect(topFunctions.byTotal.map((f) => f.name).slice(0, 2)).toEqual(['exec', 'main']);
    const exec = byName(topFunctions.byTotal, 'exec');
    expect(exec.totalShare).toBeCloseTo(0.9, 10);
    expect(exec.selfShare).toBe(0);
    expect(exec.totalShareBefore).toBeCloseTo(0.8, 10);
    expect(exec.totalChange).toBeCloseTo(10, 10);
    const oldHot = byName(topFunctions.bySelf, 'old_hot');
    expect(oldHot).toMatchObject({ kind: 'native', module: '/usr/bin/fixture' });
    expect(oldHot.selfShareBefore).toBeCloseTo(0.6, 10);
    expect(oldHot.totalShareBefore).toBeCloseTo(0.6, 10);
    expect(oldHot.change).toBeCloseTo(-50, 10);
    expect(JSON.parse(JSON.stringify(topFunctions))).toEqual(topFunctions);
  });

  it('lists the busiest processes with their samples and share', () => {
    const { topProcesses } = summarizeIncident(trigger, baseline);
    expect(topProcesses).toEqual([
      { pid: 100, comm: 'postgres', samples: 180, share: 0.9 },
      { pid: 200, comm: 'nginx', samples: 20, share: 0.1 },
    ]);
    const many = buildProfile(Array.from({ length: 15 }, (_, i) => ({ frames: ['main'], count: i + 1, pid: 1000 + i, comm: `p${i}` })));
    const top = summarizeIncident(many, undefined).topProcesses;
    expect(top).toHaveLength(10);
    expect(top[0]).toMatchObject({ pid: 1014, comm: 'p14', samples: 15 });
    expect(top[9]).toMatchObject({ pid: 1005, samples: 6 });
  });

  it('counts a recursive function once per sample in its total share', () => {
    const recursive = buildProfile([
      { frames: ['main', 'walk', 'walk', 'walk', 'visit'], count: 30 },
      { frames: ['main', 'walk', 'walk'], count: 20 },
      { frames: ['main', 'idle'], count: 50 },
    ]);
    const { topFunctions } = summarizeIncident(recursive, undefined);
    const walk = byName(topFunctions.byTotal, 'walk');
    expect(walk.totalShare).toBeCloseTo(0.5, 10);
    expect(walk.selfShare).toBeCloseTo(0.2, 10);
    expect(byName(topFunctions.byTotal, 'main').totalShare).toBe(1);
    for (const f of topFunctions.byTotal) expect(f.totalShare).toBeLessThanOrEqual(1);
  });

  it('without a baseline: no before figures and nothing grew or shrank', () => {
    const summary = summarizeIncident(trigger, undefined);
    expect(summary.baselineSamples).toBeUndefined();
    expect(summary.grew).toEqual([]);
    expect(summary.shrank).toEqual([]);
    const newHot = byName(summary.topFunctions.bySelf, 'new_hot');
    expect(newHot.selfShareBefore).toBeUndefined();
    expect(newHot.change).toBeUndefined();
    expect(newHot.selfShare).toBeCloseTo(0.7, 10);
  });

  it('keeps at most 20 functions per list and 5 changes per direction', () => {
    const wide = buildProfile(Array.from({ length: 30 }, (_, i) => ({ frames: ['main', `f${i}`], count: i + 1 })));
    const flat = buildProfile(Array.from({ length: 30 }, (_, i) => ({ frames: ['main', `f${i}`], count: 30 - i })));
    const summary = summarizeIncident(wide, flat);
    expect(summary.topFunctions.bySelf).toHaveLength(20);
    expect(summary.topFunctions.byTotal).toHaveLength(20);
    expect(summary.topFunctions.bySelf[0].name).toBe('f29');
    expect(summary.grew.map((g) => g.name)).toEqual(['f29', 'f28', 'f27', 'f26', 'f25']);
    expect(summary.shrank.map((s) => s.name)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
  });

  it('scopes the function figures to the triggering process when given its pid', () => {
    const summary = summarizeIncident(trigger, baseline, 100);
    expect(summary.scope).toEqual({ pid: 100, comm: 'postgres', samples: 180, baselineSamples: 80 });
    // Host-wide figures stay host-wide.
    expect(summary.samples).toBe(200);
    expect(summary.topProcesses).toHaveLength(2);
    // Shares of postgres's own samples: 140/180 now, 60/80 of old_hot before.
    expect(summary.grew[0].name).toBe('new_hot');
    expect(summary.grew[0].selfShare).toBeCloseTo(140 / 180, 10);
    expect(summary.shrank[0].name).toBe('old_hot');
    expect(summary.shrank[0].change).toBeCloseTo((20 / 180 - 60 / 80) * 100, 10);
    expect(summary.topFunctions.bySelf.map((f) => f.name)).not.toContain('serve');
  });

  it('scopes the function figures to the processes of a cgroup or unit, and states the idle share', () => {
    const withSidecar = buildProfile([
      { frames: ['main', 'exec', 'new_hot'], count: 50, pid: 100, comm: 'postgres' },
      { frames: ['main', 'exec', 'helper'], count: 10, pid: 101, comm: 'postgres' },
      { frames: ['nginx_main', 'serve'], count: 40, pid: 200, comm: 'nginx' },
    ]);
    const idle = { share: 0.45, shareBefore: 0.8, samples: 90, included: false };
    const summary = summarizeIncident(withSidecar, undefined, { scope: { pids: new Set([100, 101, 999]), cgroup: '/system.slice/postgresql.service', unit: 'postgresql.service' }, idle });
    // 999 was in the cgroup but has no samples: two processes counted, 60 samples.
    expect(summary.scope).toEqual({ cgroup: '/system.slice/postgresql.service', unit: 'postgresql.service', processes: 2, samples: 60 });
    expect(summary.topFunctions.bySelf.map((f) => [f.name, f.selfShare])).toEqual([
      ['new_hot', 50 / 60],
      ['helper', 10 / 60],
    ]);
    expect(summary.idle).toEqual(idle);
    // Every process is still listed with its share of the window.
    expect(summary.topProcesses.map((p) => p.pid)).toEqual([100, 200, 101]);
  });

  it('survives empty windows without dividing by zero', () => {
    const summary = summarizeIncident(buildProfile([]), buildProfile([]));
    expect(summary).toEqual({
      kind: 'cpu',
      unit: 'samples',
      samples: 0,
      baselineSamples: 0,
      topFunctions: { bySelf: [], byTotal: [] },
      topProcesses: [],
      grew: [],
      shrank: [],
    });
    const gone = summarizeIncident(buildProfile([]), baseline);
    expect(gone.shrank[0]).toMatchObject({ name: 'old_hot', selfShare: 0 });
    expect(gone.shrank[0].change).toBeCloseTo(-60, 10);
  });
});
