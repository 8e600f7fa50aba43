import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../daemon/model/duration.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1.5s', 1500],
    ['0s', 0],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['10', '-5s', 's', '10 parsecs', '', '1m 30s'])('rejects %j with the accepted form', (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration .*use a number with a unit/);
  });

  it('formats for people', () => {
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(10_000)).toBe('10s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(3_600_000)).toBe('1h');
  });
});
