import type { MetricName } from '../daemon/model/metrics.js';
import type { Threshold } from '../daemon/model/rule.js';
import { SIZE_UNITS } from '../daemon/model/size.js';

/** The outcome of reading one `above:`/`below:` value: a threshold, or one sentence saying what to fix. */
export type ThresholdResult = { ok: true; threshold: Threshold } | { ok: false; message: string };

type ThresholdUnit = Threshold['unit'];

const DECIMAL_SIZE = /^(?:kB|KB|MB|GB|TB)$/;
const PER_SECONDS: Readonly<Record<string, number>> = { s: 1, min: 60, h: 3600 };

/** What each metric accepts, with the sentence that tells a person how to write it. */
export const METRIC_UNITS: Readonly<Record<MetricName, { units: readonly ThresholdUnit[]; help: string; signed?: boolean; maxPercent?: number }>> = {
  cpu: { units: ['percent', 'cores'], help: '% or cores, e.g. 90%, 1.5 cores' },
  rss: { units: ['bytes'], help: 'B, KiB, MiB, GiB or TiB, e.g. 512MiB (binary units only: decimal KB/MB/GB are not accepted)' },
  // Memory can shrink, so `below: -10MiB/min` is a meaningful rule.
  rss_growth: { units: ['bytes_per_second'], help: 'a size per s, min or h, e.g. 10MiB/min, 512KiB/s, 1GiB/h', signed: true },
  cache_miss_rate: { units: ['per_second'], help: 'events per s, min or h, e.g. 5000/s' },
  psi_cpu: { units: ['percent'], help: '%, e.g. 20%', maxPercent: 100 },
  psi_memory: { units: ['percent'], help: '%, e.g. 20%', maxPercent: 100 },
  psi_io: { units: ['percent'], help: '%, e.g. 20%', maxPercent: 100 },
};

const NUMBER_THEN_UNIT = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(.*)$/;

/** Reads a unit as written into what it measures and the factor to the stored unit; undefined when unknown. */
function classifyUnit(unit: string): { unit: ThresholdUnit; factor: number } | undefined {
  if (unit === '%') return { unit: 'percent', factor: 1 };
  if (unit === 'core' || unit === 'cores') return { unit: 'cores', factor: 1 };
  if (unit in SIZE_UNITS) return { unit: 'bytes', factor: SIZE_UNITS[unit] };
  const slash = unit.indexOf('/');
  if (slash < 0) return undefined;
  const [amount, per] = [unit.slice(0, slash), unit.slice(slash + 1)];
  if (!(per in PER_SECONDS)) return undefined;
  if (amount === '') return { unit: 'per_second', factor: 1 / PER_SECONDS[per] };
  if (amount in SIZE_UNITS) return { unit: 'bytes_per_second', factor: SIZE_UNITS[amount] / PER_SECONDS[per] };
  return undefined;
}

/** The metrics that accept a unit kind, for "(it is for rss)" in messages. */
function metricsAccepting(unit: ThresholdUnit): MetricName[] {
  return (Object.keys(METRIC_UNITS) as MetricName[]).filter((metric) => METRIC_UNITS[metric].units.includes(unit));
}

function fail(message: string): ThresholdResult {
  return { ok: false, message };
}

/**
 * Reads a threshold as written in a rule (`90%`, `1.5 cores`, `2cores`, `512MiB`, `10MiB/min`,
 * `5000/s`) and checks that its unit fits `metric`. Stored units: percent as written (90 for
 * `90%`), cores as cores, sizes in bytes, size rates in bytes per second, event rates per second.
 *
 * `metric` undefined (the rule's metric is itself wrong) still checks the number and that the unit
 * is one tail2 knows, so a file with several mistakes gets all of them reported at once.
 */
export function parseThreshold(value: unknown, metric: MetricName | undefined): ThresholdResult {
  const spec = metric !== undefined ? METRIC_UNITS[metric] : undefined;
  const expected = spec ? `${metric} thresholds use ${spec.help}` : 'write a number with a unit, e.g. 90%, 512MiB, 10MiB/min, 5000/s';
  if (typeof value === 'number') return fail(`threshold ${value} has no unit: ${expected}`);
  if (typeof value !== 'string' || value.trim() === '') return fail(`threshold must be a number with a unit: ${expected}`);

  const text = value.trim();
  const match = NUMBER_THEN_UNIT.exec(text);
  if (!match) return fail(`threshold "${text}" is not a number with a unit: ${expected}`);
  const number = Number(match[1]);
  // `10 MiB / min` reads the same as `10MiB/min`; spaces carry no meaning inside a unit.
  const unitText = match[2].replace(/\s*\/\s*/g, '/');
  if (unitText === '') return fail(`threshold "${text}" has no unit: ${expected}`);

  const unit = classifyUnit(unitText);
  if (!unit) {
    const why = DECIMAL_SIZE.test(unitText.split('/')[0]) ? ' (decimal sizes are ambiguous: use the binary KiB, MiB, GiB, TiB)' : '';
    return fail(`unknown unit "${unitText}" in threshold "${text}"${why}: ${expected}`);
  }
  if (spec && !spec.units.includes(unit.unit)) {
    const owners = metricsAccepting(unit.unit).join(', ');
    return fail(`unit "${unitText}" is not valid for metric ${metric} (it is for ${owners}): ${expected}`);
  }
  if (number < 0 && !spec?.signed) return fail(`threshold "${text}" must not be negative`);
  if (spec?.maxPercent !== undefined && unit.unit === 'percent' && number > spec.maxPercent) {
    return fail(`threshold "${text}" is above ${spec.maxPercent}%: ${metric} is a share of time, from 0% to ${spec.maxPercent}%`);
  }
  return { ok: true, threshold: { value: number * unit.factor, unit: unit.unit, text } };
}
