import { describe, expect, it } from 'vitest';
import { diffFrames, framePath, renderDiffFlamegraphSvg, type FrameDiff } from '../../daemon/formats/diff-flamegraph.js';
import { buildProfile } from '../helpers/profile-fixture.js';
import { expectWellFormed, xpath, el } from '../helpers/xml.js';

// Checked with libxml2's xmllint, like the normal flamegraph: well-formedness, then XPath.

/** The frame `<g>` whose tooltip starts with "name:". */
const frame = (name: string): string => `//${el('g')}[@data-samples][starts-with(${el('title')}, '${name}:')]`;

function rgb(svg: string, name: string): [number, number, number] {
  const hex = xpath(svg, `string(${frame(name)}/${el('rect')}/@fill)`);
  expect(hex).toMatch(/^#[0-9a-f]{6}$/);
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

// The database's hot loop moves from old_hot (baseline) to new_hot (incident); the web server
// stays the same number of samples, so its share halves as the incident window doubles.
const baseline = buildProfile([
  { frames: ['main', 'exec', 'old_hot'], count: 60, pid: 100, comm: 'postgres' },
  { frames: ['main', 'exec', 'helper'], count: 20, pid: 100, comm: 'postgres' },
  { frames: ['nginx_main', 'serve'], count: 20, pid: 200, comm: 'nginx' },
]);
const trigger = buildProfile([
  { frames: ['main', 'exec', 'new_hot'], count: 140, pid: 100, comm: 'postgres' },
  { frames: ['main', 'exec', 'old_hot'], count: 20, pid: 100, comm: 'postgres' },
  { frames: ['main', 'exec', 'helper'], count: 20, pid: 100, comm: 'postgres' },
  { frames: ['nginx_main', 'serve'], count: 20, pid: 200, comm: 'nginx' },
]);

function find(diffs: FrameDiff[], path: string): FrameDiff {
  const found = diffs.find((d) => framePath(d).join(';') === path);
  if (!found) throw new Error(`no diff for ${path}`);
  return found;
}

describe('diffFrames', () => {
  it('gives each call path its share of each window, normalized by that window', () => {
    const diffs = diffFrames(trigger, baseline);
    const newHot = find(diffs, 'postgres;main;exec;new_hot');
    expect(newHot).toMatchObject({ name: 'new_hot', kind: 'native', module: '/usr/bin/fixture', samplesBefore: 0, samplesAfter: 140, before: 0, isNew: true });
    expect(newHot.after).toBeCloseTo(0.7, 10);
    expect(newHot.change).toBeCloseTo(70, 10);
    const oldHot = find(diffs, 'postgres;main;exec;old_hot');
    expect(oldHot).toMatchObject({ samplesBefore: 60, samplesAfter: 20, isNew: false });
    expect(oldHot.before).toBeCloseTo(0.6, 10);
    expect(oldHot.after).toBeCloseTo(0.1, 10);
    expect(oldHot.change).toBeCloseTo(-50, 10);
    // Same samples, twice the window: the share halves.
    expect(find(diffs, 'nginx;nginx_main;serve').change).toBeCloseTo(-10, 10);
    expect(find(diffs, 'postgres').change).toBeCloseTo(10, 10);
    expect(find(diffs, 'postgres').caller).toBeUndefined();
    expect(find(diffs, 'postgres;main;exec').caller).toBe(find(diffs, 'postgres;main'));
    // Callers come before their callees, and every path of either window is there once.
    diffs.forEach((d, i) => d.caller && expect(diffs.indexOf(d.caller)).toBeLessThan(i));
    expect(diffs.map((d) => framePath(d).join(';')).sort()).toEqual([
      'nginx', 'nginx;nginx_main', 'nginx;nginx_main;serve',
      'postgres', 'postgres;main', 'postgres;main;exec',
      'postgres;main;exec;helper', 'postgres;main;exec;new_hot', 'postgres;main;exec;old_hot',
    ]);
  });

  it('keeps paths only the baseline had, with nothing after', () => {
    const gone = find(diffFrames(buildProfile([{ frames: ['main', 'b'], count: 5 }]), buildProfile([{ frames: ['main', 'a'], count: 5 }])), 'fixture;main;a');
    expect(gone).toMatchObject({ samplesBefore: 5, samplesAfter: 0, before: 1, after: 0, change: -100, isNew: false });
  });

  it('counts a recursive path once per level, like the flamegraph boxes', () => {
    const diffs = diffFrames(buildProfile([{ frames: ['main', 'rec', 'rec', 'rec'], count: 4 }]), buildProfile([]));
    expect(diffs.map((d) => [framePath(d).length, d.samplesAfter, d.isNew, d.before])).toEqual([
      [1, 4, true, 0], [2, 4, true, 0], [3, 4, true, 0], [4, 4, true, 0], [5, 4, true, 0],
    ]);
  });
});

describe('renderDiffFlamegraphSvg', () => {
  const svg = renderDiffFlamegraphSvg(trigger, baseline, { title: 'db-spin on db-1: incident vs the minute before' });

  it('is a standalone, well-formed and interactive SVG with widths from the incident window', () => {
    expectWellFormed(svg);
    expect(xpath(svg, `string(//${el('text')}[@id='title'])`)).toBe('db-spin on db-1: incident vs the minute before');
    expect(xpath(svg, `string(//${el('text')}[@id='subtitle'])`)).toContain('baseline (100 samples) → incident (200 samples)');
    expect(xpath(svg, `string(//${el('script')})`)).toContain('zoom');
    expect(xpath(svg, 'string(/*/@data-total)')).toBe('200');
    expect(xpath(svg, `string(${frame('new_hot')}/@data-samples)`)).toBe('140');
    const root = Number(xpath(svg, `string(${frame('all')}/${el('rect')}/@width)`));
    expect(Number(xpath(svg, `string(${frame('new_hot')}/${el('rect')}/@width)`)) / root).toBeCloseTo(0.7, 3);
    // One tooltip per frame box.
    expect(xpath(svg, `count(//${el('g')}[@id='frames']/${el('g')}[not(${el('title')})])`)).toBe('0');
    expect(xpath(svg, `count(//${el('g')}[@id='legend']/${el('text')})`)).toBe('4');
  });

  it('says the change in each tooltip, "new" where the baseline had nothing', () => {
    expect(xpath(svg, `string(${frame('new_hot')}/${el('title')})`)).toBe('new_hot: new → 70.0% (+70.0 points)\n/usr/bin/fixture');
    expect(xpath(svg, `string(${frame('old_hot')}/${el('title')})`)).toBe('old_hot: 60.0% → 10.0% (-50.0 points)\n/usr/bin/fixture');
    expect(xpath(svg, `string(${frame('serve')}/${el('title')})`)).toMatch(/^serve: 20\.0% → 10\.0% \(-10\.0 points\)/);
    expect(xpath(svg, `string(${frame('all')}/${el('title')})`)).toBe('all: 100.0% → 100.0% (+0.0 points)');
  });

  it('colours what grew red, what shrank blue, what stayed grey, deeper for larger changes', () => {
    const [nr, ng, nb] = rgb(svg, 'new_hot');
    expect(nr).toBeGreaterThan(ng + 100);
    expect(nr).toBeGreaterThan(nb + 100);
    const [or, og, ob] = rgb(svg, 'old_hot');
    expect(ob).toBeGreaterThan(or + 100);
    expect(ob).toBeGreaterThan(og + 60);
    // serve shrank 10 points, old_hot 50: both blue, old_hot deeper.
    const [sr, , sb] = rgb(svg, 'serve');
    expect(sb).toBeGreaterThan(sr + 20);
    expect(sb - sr).toBeLessThan(ob - or);
    const [ar, ag, ab] = rgb(svg, 'all');
    expect(ar === ag && ag === ab).toBe(true);

    // Identical windows: every box grey, however many samples each had.
    const same = renderDiffFlamegraphSvg(baseline, baseline, { title: 'same' });
    for (const name of ['old_hot', 'helper', 'serve', 'postgres']) {
      const [r, g, b] = rgb(same, name);
      expect(r === g && g === b).toBe(true);
    }
    // Small noise stays pale rather than being scaled up to full colour.
    const noisy = renderDiffFlamegraphSvg(
      buildProfile([{ frames: ['a'], count: 501 }, { frames: ['b'], count: 499 }]),
      buildProfile([{ frames: ['a'], count: 500 }, { frames: ['b'], count: 500 }]),
      { title: 'noise' },
    );
    const [qr, qg, qb] = rgb(noisy, 'a');
    expect(qr - Math.min(qg, qb)).toBeLessThan(40);
  });

  it('keeps hostile names as text', () => {
    const hostile = buildProfile([{ frames: ['main', 'operator<<(a&b, "c")'], count: 3, comm: '<svg/onload=alert(1)>' }]);
    const out = renderDiffFlamegraphSvg(hostile, buildProfile([]), { title: '</title><script>alert(1)</script>' });
    expectWellFormed(out);
    expect(out).not.toContain('<svg/onload');
    expect(out).not.toContain('<script>alert');
    expect(xpath(out, `string(//${el('text')}[@id='title'])`)).toBe('</title><script>alert(1)</script>');
    expect(xpath(out, `count(//${el('g')}[@data-samples][starts-with(${el('title')}, '<svg/onload=alert(1)>: new')])`)).toBe('1');
    expect(xpath(out, `count(//${el('g')}[@data-samples][starts-with(${el('title')}, 'operator<<(a&b, "c"): new → 100.0%')])`)).toBe('1');
  });
});
