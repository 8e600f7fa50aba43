import { describe, expect, it } from 'vitest';
import { FoldedParseError, parseFolded, renderFolded } from '../../daemon/formats/folded.js';
import { buildProfile } from '../helpers/profile-fixture.js';

const profile = buildProfile([
  { frames: ['main', 'outer', 'middle', 'leaf_spin'], count: 90 },
  { frames: ['main', 'other'], count: 10 },
  {
    frames: ['main', 'write_all', { name: 'entry_SYSCALL_64', kind: 'kernel', module: '[kernel.kallsyms]' }, { name: 'ksys_write', kind: 'kernel' }],
    comm: 'writer',
    pid: 77,
    count: 7,
  },
  {
    frames: ['main', 'decode', { name: 'parse_header', kind: 'native', module: '/usr/bin/fixture', inlined: true }],
    count: 3,
  },
  { frames: ['main', 'run', { name: 'Interpreter::loop', kind: 'jit', module: '[jit]' }], count: 2 },
]);

describe('renderFolded', () => {
  it('writes one sorted line per path with comm first and flamegraph.pl suffixes', () => {
    expect(renderFolded(profile)).toBe(
      [
        'fixture;main;decode;parse_header_[i] 3',
        'fixture;main;other 10',
        'fixture;main;outer;middle;leaf_spin 90',
        'fixture;main;run;Interpreter::loop_[j] 2',
        'writer;main;write_all;entry_SYSCALL_64_[k];ksys_write_[k] 7',
        '',
      ].join('\n'),
    );
  });

  it('keeps every sample: counts sum to the number of samples', () => {
    const total = [...parseFolded(renderFolded(profile)).values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(profile.samples.stack.length);
    expect(total).toBe(112);
  });

  it('merges stacks whose paths are equal once named (same comm, different pid)', () => {
    const twoPids = buildProfile([
      { frames: ['main', 'work'], pid: 1, comm: 'worker', count: 4 },
      { frames: ['main', 'work'], pid: 2, comm: 'worker', count: 6 },
      { frames: ['main', 'work'], pid: 2, comm: 'other', count: 1 },
    ]);
    expect(renderFolded(twoPids)).toBe('other;main;work 1\nworker;main;work 10\n');
  });

  it('replaces separators inside names so the line stays parseable', () => {
    const awkward = buildProfile([
      { frames: ['main', 'ns;;f', 'two\nlines', 'has space'], comm: 'a;b', count: 5 },
    ]);
    const text = renderFolded(awkward);
    expect(text).toBe('a:b;main;ns::f;two lines;has space 5\n');
    expect(parseFolded(text)).toEqual(new Map([['a:b;main;ns::f;two lines;has space', 5]]));
  });

  it('leaves out stacks without samples and renders an empty profile as ""', () => {
    const withUnused = buildProfile([
      { frames: ['main', 'never'], count: 0 },
      { frames: ['main', 'hot'], count: 2 },
    ]);
    expect(renderFolded(withUnused)).toBe('fixture;main;hot 2\n');
    expect(renderFolded(buildProfile([]))).toBe('');
  });
});

describe('parseFolded', () => {
  it('round-trips renderFolded output', () => {
    const parsed = parseFolded(renderFolded(profile));
    expect(parsed).toEqual(
      new Map([
        ['fixture;main;decode;parse_header_[i]', 3],
        ['fixture;main;other', 10],
        ['fixture;main;outer;middle;leaf_spin', 90],
        ['fixture;main;run;Interpreter::loop_[j]', 2],
        ['writer;main;write_all;entry_SYSCALL_64_[k];ksys_write_[k]', 7],
      ]),
    );
  });

  it('accepts CRLF, blank lines, repeated paths and fractional counts', () => {
    expect(parseFolded('a;b 2\r\n\r\na;b 3\n\nc 0.5\n')).toEqual(
      new Map([
        ['a;b', 5],
        ['c', 0.5],
      ]),
    );
  });

  it('names the line of a missing count', () => {
    expect(() => parseFolded('a;b 1\n\nc;d\n')).toThrow(/line 3: no count after the path in "c;d"/);
  });

  it('names the line of a count that is not a number', () => {
    let error: unknown;
    try {
      parseFolded('a;b 1\nc;d 1x\n');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FoldedParseError);
    expect((error as FoldedParseError).line).toBe(2);
    expect((error as FoldedParseError).code).toBe('TAIL2_FOLDED_PARSE');
    expect((error as FoldedParseError).message).toMatch(/line 2: count "1x" is not a non-negative number/);
  });

  it('rejects a line with a count but no path', () => {
    expect(() => parseFolded(' 12\n')).toThrow(/line 1: the path before the count is empty/);
    expect(() => parseFolded('a -3\n')).toThrow(/line 1: count "-3"/);
  });
});
