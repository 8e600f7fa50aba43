import type { IncidentRecord } from '../model/incident-record.js';
import { chartUnit, withUnit } from './metric-units.js';
import { utcText } from './time-text.js';

/**
 * The metric chart of the incident page as geometry, drawn as inline SVG by
 * views/partials/metric-chart.ejs: no JavaScript needed, and every label goes through the
 * template's escaping (the title names the process, which is untrusted text).
 */
export interface MetricChartSvg {
  width: number;
  height: number;
  /** Accessible name and longer description (`<title>`, `<desc>`). */
  title: string;
  description: string;
  plot: { x: number; y: number; width: number; height: number };
  yTicks: Array<{ y: number; label: string }>;
  xTicks: Array<{ x: number; label: string }>;
  yUnit: string;
  /** The time axis' zone, said in the legend: the server cannot know the reader's. */
  xUnit: string;
  /** `points` attribute of the series' polyline. */
  line: string;
  /** Drawn as dots when the series is too short for a line to show. */
  dots: Array<{ x: number; y: number }>;
  threshold: { y: number; label: string } | null;
  fired: { x: number; label: string } | null;
  /** From held_since to fired_at: the trigger part of the window. */
  held: { x: number; width: number } | null;
}

const WIDTH = 720;
const HEIGHT = 260;
const MARGIN = { left: 64, right: 16, top: 30, bottom: 40 };
const TIME_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600];

/** The chart of `record.series[0]`, or null when the incident recorded no metric values. */
export function metricChart(record: IncidentRecord): MetricChartSvg | null {
  const series = record.series[0];
  if (!series || series.points.length === 0) return null;
  const unit = chartUnit(series.metric, series.instance);
  const points = series.points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v)).map(([t, v]): [number, number] => [t, v * unit.factor]);
  if (points.length === 0) return null;

  const trigger = record.trigger.kind === 'rule' && record.trigger.metric === series.metric ? record.trigger : undefined;
  const threshold = trigger ? trigger.threshold * unit.factor : undefined;
  const firedMs = Date.parse(record.fired_at);
  const heldMs = record.window.held_since ? Date.parse(record.window.held_since) : NaN;

  const times = points.map(([t]) => t);
  const fromMs = Math.min(Date.parse(record.window.from) || times[0], ...times);
  const toMs = Math.max(Date.parse(record.window.to) || times[times.length - 1], ...times);
  const spanMs = Math.max(toMs - fromMs, 1000);

  const values = points.map(([, v]) => v);
  if (threshold !== undefined) values.push(threshold);
  let low = Math.min(0, ...values);
  let high = Math.max(...values);
  if (high - low < 1e-9) high = low + 1;
  high += (high - low) * 0.05;
  const yTicks = niceTicks(low, high, 5);
  low = Math.min(low, yTicks[0]);
  high = Math.max(high, yTicks[yTicks.length - 1]);

  const plot = { x: MARGIN.left, y: MARGIN.top, width: WIDTH - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };
  const x = (t: number): number => round(plot.x + ((t - fromMs) / spanMs) * plot.width);
  const y = (v: number): number => round(plot.y + plot.height - ((v - low) / (high - low)) * plot.height);
  const digits = decimals(yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1);

  const who =
    series.instance.kind === 'process'
      ? `${series.instance.comm} (pid ${series.instance.pid})`
      : series.instance.kind === 'cgroup'
        ? (series.instance.unit ?? series.instance.path)
        : 'the host';
  const marks = [
    threshold !== undefined ? `dashed line: the threshold, ${withUnit(formatValue(threshold, digits), unit)}` : '',
    Number.isFinite(heldMs) ? `shaded: the condition held from ${utcText(heldMs)}` : '',
    Number.isFinite(firedMs) ? `vertical line: fired at ${utcText(firedMs)}` : '',
  ].filter(Boolean);
  const peak = Math.max(...points.map(([, v]) => v));

  return {
    width: WIDTH,
    height: HEIGHT,
    title: `${series.metric} of ${who}, ${utcText(fromMs)} to ${utcText(toMs)}`,
    description: `${points.length} readings, peak ${withUnit(formatValue(peak, digits), unit)}${marks.length ? `; ${marks.join('; ')}` : ''}.`,
    plot,
    yTicks: yTicks.map((v) => ({ y: y(v), label: formatValue(v, digits) })),
    xTicks: timeTicks(fromMs, toMs).map((t) => ({ x: x(t), label: clockText(t, spanMs) })),
    yUnit: unit.label,
    xUnit: 'UTC',
    line: points.map(([t, v]) => `${x(t)},${y(v)}`).join(' '),
    dots: points.length < 3 ? points.map(([t, v]) => ({ x: x(t), y: y(v) })) : [],
    threshold: threshold !== undefined ? { y: y(threshold), label: `${trigger?.comparison ?? 'threshold'} ${trigger?.thresholdText ?? formatValue(threshold, digits)}` } : null,
    fired: Number.isFinite(firedMs) ? { x: x(firedMs), label: 'fired' } : null,
    held: Number.isFinite(heldMs) && Number.isFinite(firedMs) && heldMs <= firedMs ? { x: x(heldMs), width: round(x(firedMs) - x(heldMs)) } : null,
  };
}

/** Round numbers (1, 2, 2.5 or 5 × 10^n) covering [low, high] in about `count` steps. */
export function niceTicks(low: number, high: number, count: number): number[] {
  const raw = (high - low) / Math.max(count, 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = Math.floor(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < high) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** Wall-clock ms on whole multiples of a step giving at most 7 ticks. */
function timeTicks(fromMs: number, toMs: number): number[] {
  const span = (toMs - fromMs) / 1000;
  const stepS = TIME_STEPS_S.find((s) => span / s <= 6) ?? TIME_STEPS_S[TIME_STEPS_S.length - 1];
  const stepMs = stepS * 1000;
  const ticks: number[] = [];
  for (let t = Math.ceil(fromMs / stepMs) * stepMs; t <= toMs; t += stepMs) ticks.push(t);
  return ticks;
}

/** `03:15:20` (UTC), or `03:15` when the window spans hours. */
function clockText(ms: number, spanMs: number): string {
  const text = new Date(ms).toISOString().slice(11, 19);
  return spanMs > 2 * 3600_000 ? text.slice(0, 5) : text;
}

function decimals(step: number): number {
  return Math.min(3, Math.max(0, -Math.floor(Math.log10(step))));
}

function formatValue(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
