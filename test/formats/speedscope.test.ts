import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSpeedscope } from '../../daemon/formats/speedscope.js';
import { buildProfile, type FixtureStack } from '../helpers/profile-fixture.js';

/** speedscope's published schema (dist/release/file-format-schema.json of the `speedscope` npm package, 1.25.0). */
const schema = JSON.parse(readFileSync(new URL('../fixtures/speedscope-schema.json', import.meta.url), 'utf8')) as JsonSchema;

interface JsonSchema {
  $ref?: string;
  type?: string;
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  definitions?: Record<string, JsonSchema>;
}

/**
 * Validates `value` against the subset of JSON Schema draft 7 that speedscope's schema uses
 * ($ref, type, const, enum, properties, required, items, anyOf) and returns the problems found.
 */
function validate(value: unknown, node: JsonSchema = schema, path = '$'): string[] {
  if (node.$ref) {
    const name = node.$ref.replace('#/definitions/', '');
    const target = schema.definitions?.[name];
    if (!target) return [`${path}: schema has no definition ${node.$ref}`];
    return validate(value, target, path);
  }
  if (node.anyOf) {
    const results = node.anyOf.map((option) => validate(value, option, path));
    return results.some((r) => r.length === 0) ? [] : [`${path}: matches none of anyOf (${results.map((r) => r[0]).join(' | ')})`];
  }
  const problems: string[] = [];
  if (node.type) {
    const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    if (actual !== node.type) return [`${path}: expected ${node.type}, got ${actual}`];
  }
  if ('const' in node && value !== node.const) problems.push(`${path}: expected ${JSON.stringify(node.const)}, got ${JSON.stringify(value)}`);
  if (node.enum && !node.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(node.enum)}`);
  if (node.type === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of node.required ?? []) if (!(key in object)) problems.push(`${path}: missing required "${key}"`);
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (key in object) problems.push(...validate(object[key], child, `${path}.${key}`));
    }
  }
  if (node.type === 'array' && node.items) {
    (value as unknown[]).forEach((item, i) => problems.push(...validate(item, node.items ?? {}, `${path}[${i}]`)));
  }
  return problems;
}

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
    frames: ['main', { name: 'decode', kind: 'native', module: '/usr/bin/fixture', file: 'decode.c', line: 10 }],
    comm: 'decoder',
    pid: 88,
    count: 3,
  },
  // Back in the first process after the others: its samples must stay in time order.
  { frames: ['main', 'outer', 'tail_phase'], count: 5 },
]);
const periodNs = profile.periodNs;

/** Frame names of one sample, root first. */
function names(file: ReturnType<typeof renderSpeedscope>, stack: number[]): string[] {
  return stack.map((i) => file.shared.frames[i]?.name ?? `<bad frame ${i}>`);
}

describe('renderSpeedscope', () => {
  const file = renderSpeedscope(profile);
  const json: unknown = JSON.parse(JSON.stringify(file));

  it('produces a file that satisfies speedscope’s published schema', () => {
    expect(validate(json)).toEqual([]);
    // The validator is only worth something if it rejects what the schema rejects.
    const broken = JSON.parse(JSON.stringify(file)) as { profiles: Array<Record<string, unknown>>; $schema?: string };
    delete broken.profiles[0]?.weights;
    broken.$schema = 'https://example.com';
    expect(validate(broken)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\$\.\$schema: expected/), expect.stringMatching(/^\$\.profiles\[0\]: matches none of anyOf/)]),
    );
  });

  it('fills every field the schema requires of the file, its frames and sampled profiles', () => {
    const definitions = schema.definitions ?? {};
    const record = json as Record<string, unknown>;
    for (const key of definitions['FileFormat.File']?.required ?? []) expect(record).toHaveProperty(key);
    for (const frame of file.shared.frames) {
      for (const key of definitions['FileFormat.Frame']?.required ?? []) expect(frame).toHaveProperty(key);
    }
    for (const p of file.profiles) {
      for (const key of definitions['FileFormat.SampledProfile']?.required ?? []) expect(p).toHaveProperty(key);
      expect(p.type).toBe('sampled');
      expect(p.unit).toBe('nanoseconds');
    }
    expect(file.$schema).toBe(definitions['FileFormat.File']?.properties?.$schema?.const);
    expect(file.exporter).toBe('tail2');
    expect(file.name).toBe('fixture profile');
    expect(renderSpeedscope(profile, 'incident-42').name).toBe('incident-42');
    expect(file.activeProfileIndex).toBe(0);
  });

  it('writes one profile per process, busiest first', () => {
    expect(file.profiles.map((p) => [p.name, p.samples.length])).toEqual([
      ['fixture (pid 4242)', 105],
      ['writer (pid 77)', 7],
      ['decoder (pid 88)', 3],
    ]);
  });

  it('keeps each process’s samples in time order with start/end relative to the recording start', () => {
    const main = file.profiles[0];
    expect(main?.samples.map((s) => names(file, s).at(-1))).toEqual([
      ...Array<string>(90).fill('leaf_spin'),
      ...Array<string>(10).fill('other'),
      ...Array<string>(5).fill('tail_phase'),
    ]);
    expect(main?.startValue).toBe(0);
    expect(main?.endValue).toBeCloseTo(105 * periodNs, 3);
    // The writer's first sample is the 101st of the recording.
    expect(file.profiles[1]?.startValue).toBeCloseTo(100 * periodNs, 3);
    for (const p of file.profiles) expect(p.endValue).toBeGreaterThanOrEqual(p.startValue);
  });

  it('weights each sample by the period, so weights sum to count × period', () => {
    for (const p of file.profiles) {
      expect(p.weights).toHaveLength(p.samples.length);
      expect(new Set(p.weights)).toEqual(new Set([periodNs]));
      const total = p.weights.reduce((a, b) => a + b, 0);
      expect(total).toBeCloseTo(p.samples.length * periodNs, 3);
      expect(p.endValue - p.startValue).toBeCloseTo(total, 3);
    }
    const all = file.profiles.reduce((n, p) => n + p.samples.length, 0);
    expect(all).toBe(profile.samples.stack.length);
  });

  it('uses valid frame indexes, root first, kernel frames marked [k], and shares frames', () => {
    for (const p of file.profiles) {
      for (const stack of p.samples) {
        for (const index of stack) {
          expect(Number.isInteger(index)).toBe(true);
          expect(index).toBeGreaterThanOrEqual(0);
          expect(index).toBeLessThan(file.shared.frames.length);
        }
      }
    }
    expect(names(file, file.profiles[0]?.samples[0] ?? [])).toEqual(['main', 'outer', 'middle', 'leaf_spin']);
    expect(names(file, file.profiles[1]?.samples[0] ?? [])).toEqual(['main', 'write_all', 'entry_SYSCALL_64 [k]', 'ksys_write [k]']);
    expect(file.shared.frames.find((f) => f.name === 'decode')).toEqual({ name: 'decode', file: 'decode.c', line: 10 });
    const frameNames = file.shared.frames.map((f) => f.name);
    expect(new Set(frameNames).size).toBe(frameNames.length);
  });

  it('keeps the top 50 processes and merges the rest into "other processes", prefixed by process', () => {
    // pid 1000 + i gets 60 - i samples, so the order is known; the three smallest are the rest.
    const stacks: FixtureStack[] = Array.from({ length: 53 }, (_, i) => ({
      frames: ['main', `work_${i}`],
      pid: 1000 + i,
      comm: `proc${i}`,
      count: 60 - i,
    }));
    const many = renderSpeedscope(buildProfile(stacks));
    expect(validate(JSON.parse(JSON.stringify(many)))).toEqual([]);
    expect(many.profiles).toHaveLength(51);
    expect(many.profiles.slice(0, 50).map((p) => p.name)).toEqual(stacks.slice(0, 50).map((s) => `${s.comm} (pid ${s.pid})`));
    const other = many.profiles[50];
    expect(other?.name).toBe('other processes (3)');
    expect(other?.samples.length).toBe(10 + 9 + 8);
    expect(names(many, other?.samples[0] ?? [])).toEqual(['proc50 (pid 1050)', 'main', 'work_50']);
    expect(names(many, other?.samples.at(-1) ?? [])).toEqual(['proc52 (pid 1052)', 'main', 'work_52']);
  });

  it('renders an empty profile as a valid file with no profiles', () => {
    const empty = renderSpeedscope(buildProfile([]));
    expect(validate(JSON.parse(JSON.stringify(empty)))).toEqual([]);
    expect(empty.profiles).toEqual([]);
  });
});
