import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlamegraphScriptError, readFlamegraphScript } from '../../daemon/formats/flamegraph-script.js';
import { escapeXml } from '../../daemon/model/escape-xml.js';
import { layoutFlamegraph } from '../../daemon/formats/flamegraph-layout.js';
import { renderFlamegraphSvg } from '../../daemon/formats/flamegraph-svg.js';
import type { SymbolizedProfile } from '../../daemon/profile/symbolized-profile.js';
import { buildProfile, type FixtureStack } from '../helpers/profile-fixture.js';
import { expectWellFormed, xpath, el } from '../helpers/xml.js';

// The SVG is checked with a real XML parser, libxml2's xmllint (Debian package libxml2-utils):
// well-formedness with --noout, structure with XPath. SVG elements are in the SVG namespace,
// so the expressions match on local-name().

/** Fails with xmllint's own message when `svg` is not well-formed XML. */
/** An XPath string literal for any text, even with both kinds of quote in it. */
const literal = (text: string): string =>
  !text.includes("'") ? `'${text}'` : !text.includes('"') ? `"${text}"` : `concat('${text.split("'").join(`', "'", '`)}')`;
/** The frame `<g>` whose details start with this name (titles read "name (N samples, P%)"). */
const frame = (name: string): string => `//${el('g')}[@data-samples][starts-with(${el('title')}, ${literal(`${name} (`)})]`;
const ROOT = `//${el('g')}[@id='frames']/${el('g')}[1]`;

/** The error `run` throws (the test fails when it throws none). */
function catching(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

const spinProfile = buildProfile([
  { frames: ['main', 'outer', 'middle', 'leaf_spin'], count: 90 },
  { frames: ['main', 'other'], count: 10 },
]);

describe('renderFlamegraphSvg', () => {
  it('writes a well-formed SVG document with size, title and subtitle', () => {
    const svg = renderFlamegraphSvg(spinProfile);
    expectWellFormed(svg);
    expect(xpath(svg, 'namespace-uri(/*)')).toBe('http://www.w3.org/2000/svg');
    expect(xpath(svg, 'string(/*/@width)')).toBe('1200');
    expect(xpath(svg, 'string(/*/@viewBox)')).toBe(`0 0 1200 ${xpath(svg, 'string(/*/@height)')}`);
    expect(xpath(svg, `string(//${el('text')}[@id='title'])`)).toBe('fixture profile');
    const subtitle = xpath(svg, `string(//${el('text')}[@id='subtitle'])`);
    expect(subtitle).toContain('100 samples');
    expect(subtitle).toContain('99 Hz');
    expect(subtitle).toContain('2026-11-25 03:00:00 UTC');

    const titled = renderFlamegraphSvg(spinProfile, { title: 'CPU of db-1', subtitle: 'rule: cpu > 90%', width: 800 });
    expect(xpath(titled, `string(//${el('text')}[@id='title'])`)).toBe('CPU of db-1');
    expect(xpath(titled, `string(//${el('text')}[@id='subtitle'])`)).toBe('rule: cpu > 90%');
    expect(xpath(titled, 'string(/*/@width)')).toBe('800');
  });

  it('sizes boxes by samples: leaf_spin is 90% of the root', () => {
    const svg = renderFlamegraphSvg(spinProfile);
    const rootWidth = Number(xpath(svg, `string(${ROOT}/${el('rect')}/@width)`));
    const leafWidth = Number(xpath(svg, `string(${frame('leaf_spin')}/${el('rect')}/@width)`));
    expect(rootWidth).toBe(1180);
    expect(leafWidth / rootWidth).toBeCloseTo(0.9, 3);
    expect(xpath(svg, `string(${frame('leaf_spin')}/${el('title')})`)).toBe('leaf_spin (90 samples, 90%)\n/usr/bin/fixture');
    expect(xpath(svg, `string(${frame('other')}/${el('title')})`)).toMatch(/^other \(10 samples, 10%\)/);
    expect(xpath(svg, `string(${ROOT}/${el('title')})`)).toBe('all (100 samples, 100%)');
  });

  it('merges stacks into one tree: comm first, root at the bottom, leaves on top', () => {
    const svg = renderFlamegraphSvg(spinProfile);
    expect(xpath(svg, `count(${frame('main')})`)).toBe('1');
    expect(xpath(svg, `string(${frame('main')}/@data-samples)`)).toBe('100');
    expect(xpath(svg, `string(${frame('fixture')}/@data-samples)`)).toBe('100');
    const y = (name: string): number => Number(xpath(svg, `string(${frame(name)}/${el('rect')}/@y)`));
    const rows = ['all', 'fixture', 'main', 'outer', 'middle', 'leaf_spin'].map(y);
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1]! - rows[i]!).toBe(16);
    expect(y('other')).toBe(y('outer'));
  });

  it('escapes hostile process and symbol names so they stay text', () => {
    const hostile = buildProfile([
      { frames: ['main', 'operator<<(a&b, "c")', "it's"], comm: '<svg/onload=alert(1)>', count: 5 },
    ]);
    const svg = renderFlamegraphSvg(hostile, { title: '<script>alert("t")</script> & co' });
    expectWellFormed(svg);
    expect(svg).not.toContain('<svg/onload');
    expect(svg).not.toContain('<script>alert');
    expect(svg).not.toContain('operator<<');
    expect(svg).toContain('&lt;svg/onload=alert(1)&gt;');
    expect(svg).toContain('operator&lt;&lt;(a&amp;b, &quot;c&quot;)');
    // Parsed back, the text is exactly the original, and no element came out of it.
    expect(xpath(svg, `string(${frame('<svg/onload=alert(1)>')}/${el('title')})`)).toBe('<svg/onload=alert(1)> (5 samples, 100%)');
    expect(xpath(svg, `string(${frame('operator<<(a&b, "c")')}/${el('text')})`)).toBe('operator<<(a&b, "c")');
    expect(xpath(svg, `string(//${el('text')}[@id='title'])`)).toBe('<script>alert("t")</script> & co');
    expect(xpath(svg, `count(//${el('svg')})`)).toBe('1');
    expect(xpath(svg, `count(//${el('script')})`)).toBe('1');
    // The script finds the name as the first data-name-length characters of the title.
    const g = frame("it's");
    expect(xpath(svg, `substring(${g}/${el('title')}, 1, ${g}/@data-name-length)`)).toBe("it's");
  });

  it('keeps only the chosen process with onlyPid', () => {
    const twoProcesses = buildProfile([
      { frames: ['main', 'alpha_work'], comm: 'alpha', pid: 1, count: 30 },
      { frames: ['main', 'beta_work'], comm: 'beta', pid: 2, count: 12 },
    ]);
    const svg = renderFlamegraphSvg(twoProcesses, { onlyPid: 2 });
    expectWellFormed(svg);
    expect(xpath(svg, `count(${frame('alpha')})`)).toBe('0');
    expect(xpath(svg, `count(${frame('alpha_work')})`)).toBe('0');
    expect(xpath(svg, `string(${frame('beta_work')}/@data-samples)`)).toBe('12');
    expect(xpath(svg, `string(${ROOT}/@data-samples)`)).toBe('12');
    expect(xpath(svg, `string(//${el('text')}[@id='subtitle'])`)).toContain('pid 2 only');

    const none = renderFlamegraphSvg(twoProcesses, { onlyPid: 3 });
    expectWellFormed(none);
    expect(none).toContain('No samples for pid 3');
    expect(xpath(none, `count(//${el('g')}[@id='frames'])`)).toBe('0');
  });

  it('colours boxes by kind, with a stable shade per name', () => {
    const mixed = buildProfile([
      {
        frames: [
          'main',
          { name: 'Interpreter::run', kind: 'jit', module: '[jit]' },
          { name: 'entry_SYSCALL_64', kind: 'kernel', module: '[kernel.kallsyms]' },
          { name: '[unknown]', kind: 'unknown' },
        ],
        count: 10,
      },
    ]);
    const svg = renderFlamegraphSvg(mixed);
    const fill = (name: string): [number, number, number] => {
      const hex = xpath(svg, `string(${frame(name)}/${el('rect')}/@fill)`);
      expect(hex).toMatch(/^#[0-9a-f]{6}$/);
      return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
    };
    const [kr, kg, kb] = fill('entry_SYSCALL_64');
    expect(kr > kg && kg > kb).toBe(true); // amber: red, then green, little blue
    expect(kg).toBeGreaterThan(100);
    const [nr, ng, nb] = fill('main');
    expect(nr).toBeGreaterThan(ng + 60); // warm red
    expect(nr).toBeGreaterThan(nb + 60);
    expect(ng).toBeLessThan(kg);
    const [jr, jg, jb] = fill('Interpreter::run');
    expect(jg).toBeGreaterThan(jr + 60); // green
    expect(jg).toBeGreaterThan(jb + 60);
    const [ur, ug, ub] = fill('[unknown]');
    expect(ur === ug && ug === ub).toBe(true); // grey
    const [pr, , pb] = fill('fixture');
    expect(pb).toBeGreaterThan(pr + 40); // the process row is blue

    // Same name, same colour, whatever else is in the graph.
    const again = renderFlamegraphSvg(buildProfile([{ frames: ['other', 'main'], count: 3 }]));
    expect(xpath(again, `string(${frame('main')}/${el('rect')}/@fill)`)).toBe(xpath(svg, `string(${frame('main')}/${el('rect')}/@fill)`));
    expect(xpath(svg, `count(//${el('g')}[@id='legend']/${el('rect')})`)).toBe('6');
  });

  it('cuts labels to the box with ".." and leaves none in boxes too narrow for one', () => {
    const long = 'a_function_with_a_really_quite_long_name_that_cannot_fit';
    const profile = buildProfile([
      { frames: ['main', long], count: 50 },
      { frames: ['main', 'busy'], count: 950 },
    ]);
    const svg = renderFlamegraphSvg(profile);
    const width = Number(xpath(svg, `string(${frame(long)}/${el('rect')}/@width)`));
    const text = xpath(svg, `string(${frame(long)}/${el('text')})`);
    expect(text.endsWith('..')).toBe(true);
    expect(long.startsWith(text.slice(0, -2))).toBe(true);
    expect(text.length * 0.59 * 12).toBeLessThanOrEqual(width - 6);

    const narrow = renderFlamegraphSvg(buildProfile([
      { frames: ['main', 'tiny'], count: 1 },
      { frames: ['main', 'busy'], count: 999 },
    ]));
    expect(xpath(narrow, `count(${frame('tiny')})`)).toBe('1');
    expect(xpath(narrow, `count(${frame('tiny')}/${el('text')})`)).toBe('0');
  });

  it('cuts names of emoji and other astral characters between characters, never inside one', () => {
    // Shifted by zero, one or two ASCII letters, at widths from a few characters up: some cuts
    // fall where a plain cut would keep half of a pair.
    const names = Array.from({ length: 12 }, (_, i) => `${'ab'.slice(0, i % 3)}${'😀'.repeat(20 + i)}`);
    const svg = renderFlamegraphSvg(buildProfile(names.map((name, i) => ({ frames: ['main', name], count: 6 + 5 * i }))));
    expectWellFormed(svg);
    let cut = 0;
    for (const name of names) {
      const text = xpath(svg, `string(${frame(name)}/${el('text')})`);
      if (text === '' || text === name) continue;
      cut++;
      // A half pair would have reached the file as U+FFFD and so be no prefix of the name.
      expect(text.endsWith('..'), text).toBe(true);
      expect(name.startsWith(text.slice(0, -2)), text).toBe(true);
    }
    expect(cut).toBeGreaterThan(6);
  });

  it('stays small and exact with 50,000 unique stacks: narrow boxes are left out', () => {
    const profile = manyStacks(50_000);
    const started = performance.now();
    const svg = renderFlamegraphSvg(profile);
    const elapsed = performance.now() - started;
    expectWellFormed(svg);
    const all = layoutFlamegraph(profile).rects.length;
    const drawn = Number(xpath(svg, `count(//${el('g')}[@id='frames']/${el('g')})`));
    expect(all).toBeGreaterThan(500_000);
    expect(drawn).toBeGreaterThan(100);
    expect(drawn).toBeLessThan(all / 50);
    expect(svg.length).toBeLessThan(3_000_000);
    // Pruned boxes still count in their parents: the root and the process rows hold every sample.
    const total = String(profile.samples.stack.length);
    expect(xpath(svg, `string(${ROOT}/@data-samples)`)).toBe(total);
    expect(xpath(svg, `sum(//${el('g')}[@id='frames']/${el('g')}[starts-with(${el('title')}, 'proc')]/@data-samples)`)).toBe(total);
    expect(xpath(svg, `string(//${el('text')}[@id='subtitle'])`)).toContain(`${Number(total).toLocaleString('en-US')} samples`);
    // Generous bound for a loaded CI machine; it takes ~0.1 s on a quiet one.
    expect(elapsed).toBeLessThan(2000);

    const everything = renderFlamegraphSvg(buildProfile([
      { frames: ['main', 'tiny'], count: 1 },
      { frames: ['main', 'busy'], count: 99_999 },
    ]), { minWidthPx: 0 });
    expect(xpath(everything, `count(${frame('tiny')})`)).toBe('1');
    const pruned = renderFlamegraphSvg(buildProfile([
      { frames: ['main', 'tiny'], count: 1 },
      { frames: ['main', 'busy'], count: 99_999 },
    ]));
    expect(xpath(pruned, `count(${frame('tiny')})`)).toBe('0');
    expect(xpath(pruned, `string(${frame('main')}/@data-samples)`)).toBe('100000');
  });

  it('says "No samples" for an empty profile', () => {
    const svg = renderFlamegraphSvg(buildProfile([]));
    expectWellFormed(svg);
    expect(xpath(svg, `count(//${el('text')}[. = 'No samples'])`)).toBe('1');
    expect(xpath(svg, 'string(/*/@height)')).not.toBe('');
  });

  it('embeds its script inline, as valid JavaScript, with no external resources', () => {
    const svg = renderFlamegraphSvg(spinProfile);
    const code = xpath(svg, `string(//${el('script')})`);
    expect(code).toContain('zoom');
    expect(() => new Function(code)).not.toThrow();
    expect(svg).not.toMatch(/(?:href|src)\s*=\s*["']?(?:https?:|\/\/)/);
    expect(xpath(svg, `string(//${el('text')}[@id='unzoom'])`)).toBe('Reset Zoom');
    expect(xpath(svg, `string(//${el('text')}[@id='search'])`)).toContain('Search');
    // What the script reads: totals on the <svg>, position and size on every frame.
    expect(xpath(svg, 'string(/*/@data-total)')).toBe('100');
    expect(xpath(svg, `count(//${el('g')}[@id='frames']/${el('g')}[not(@data-start) or not(@data-samples) or not(@data-name-length)])`)).toBe('0');
    expect(xpath(svg, `string(${frame('other')}/@data-start)`)).toBe('0');
    expect(xpath(svg, `string(${frame('outer')}/@data-start)`)).toBe('10');
  });

  it('says what to do when its script is not built, and refuses one that would end the CDATA section', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tail2-svg-script-'));
    try {
      const missing = catching(() => readFlamegraphScript(join(dir, 'flamegraph-svg.js')));
      expect(missing).toBeInstanceOf(FlamegraphScriptError);
      expect(missing).toMatchObject({ code: 'TAIL2_SVG_SCRIPT', message: expect.stringMatching(/dist\/embedded\/flamegraph-svg\.js is not built\. Run `npm run build`/) });
      const broken = join(dir, 'broken.js');
      writeFileSync(broken, 'const s = "]]>";');
      expect(catching(() => readFlamegraphScript(broken))).toMatchObject({ code: 'TAIL2_SVG_SCRIPT', message: expect.stringContaining('would end the SVG') });
      writeFileSync(broken, 'const s = "] ]>";');
      expect(readFlamegraphScript(broken)).toBe('const s = "] ]>";');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects unusable options with a message saying what to change', () => {
    expect(() => renderFlamegraphSvg(spinProfile, { width: 50 })).toThrow(/width must be at least 200 px, got 50/);
    expect(() => renderFlamegraphSvg(spinProfile, { minWidthPx: -1 })).toThrow(/minWidthPx must be 0 or more/);
  });
});

describe('layoutFlamegraph', () => {
  it('sorts siblings by name, puts self time right of the callees, and keeps details that agree', () => {
    const layout = layoutFlamegraph(
      buildProfile([
        { frames: ['main', 'zeta'], count: 2 },
        { frames: ['main'], count: 5 },
        { frames: ['main', 'alpha'], count: 3 },
        { frames: ['main', { name: 'alpha', kind: 'jit', module: '[jit]' }], count: 4 },
        { frames: ['main', 'beta', { name: 'f', kind: 'native', module: '/m', file: 'f.c', line: 1 }], count: 1 },
        { frames: ['main', 'beta', { name: 'f', kind: 'native', module: '/m', file: 'f.c', line: 2 }], count: 1 },
      ]),
    );
    const rows = layout.rects.map((r) => ({ ...layout.identities[r.identity]!, depth: r.depth, start: r.start, samples: r.samples }));
    const main = rows.find((r) => r.name === 'main')!;
    expect(main).toMatchObject({ depth: 2, start: 0, samples: 16 });
    const children = rows.filter((r) => r.depth === 3);
    expect(children.map((r) => [r.name, r.kind, r.start, r.samples])).toEqual([
      ['alpha', 'native', 0, 3],
      ['alpha', 'jit', 3, 4],
      ['beta', 'native', 7, 2],
      ['zeta', 'native', 9, 2],
    ]);
    // main's 5 self samples are the gap from 11 to 16. f merges across lines: the file stays, the line goes.
    expect(rows.filter((r) => r.name === 'f')).toEqual([expect.objectContaining({ samples: 2, file: 'f.c', line: undefined })]);
    expect(layout.maxDepth).toBe(4);
    expect(layout.rects[0]).toMatchObject({ identity: 0, depth: 0, samples: 16, parent: -1 });
    for (const rect of layout.rects.slice(1)) expect(layout.rects[rect.parent]!.depth).toBe(rect.depth - 1);
  });
});

describe('escapeXml', () => {
  it('escapes markup characters and replaces characters XML cannot carry', () => {
    expect(escapeXml(`<a href="x">Tom & Jerry's</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;');
    expect(escapeXml('plain::name')).toBe('plain::name');
    expect(escapeXml('bell\u0007 nul\u0000 tab\tok')).toBe('bell\uFFFD nul\uFFFD tab\tok');
    expect(escapeXml('pair \uD83D\uDD25 lone \uD83D end')).toBe('pair \uD83D\uDD25 lone \uFFFD end');
    const svg = renderFlamegraphSvg(buildProfile([{ frames: ['ctl\u0001char'], comm: 'bad\u001bcomm', count: 1 }]));
    expectWellFormed(svg);
  });
});

/** A profile of `count` distinct stacks of depth 20 over three processes, from a fixed seed. */
function manyStacks(count: number): SymbolizedProfile {
  let seed = 42;
  const random = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const seen = new Set<string>();
  const stacks: FixtureStack[] = [];
  while (stacks.length < count) {
    const frames = ['main'];
    // Few choices near the root, many further up: realistic fan-out, and stacks stay distinct.
    for (let depth = 1; depth < 20; depth++) frames.push(`mod${depth}::function_${Math.floor(random() * (depth < 4 ? 4 * depth : 40))}`);
    const key = frames.join(';');
    if (seen.has(key)) continue;
    seen.add(key);
    const process = stacks.length % 3;
    stacks.push({ frames, comm: `proc${process}`, pid: 100 + process, count: 1 + Math.floor(random() * 5) });
  }
  return buildProfile(stacks);
}
