import { relativeTime } from './relative-time.js';

/** A moment as the pages print it: `<time datetime="iso">utc</time>` and "3 min ago". */
export interface TimeView {
  iso: string;
  /** `2026-11-25 03:15:02 UTC`: the server cannot know the reader's zone, so it says which one it uses. */
  utc: string;
  relative: string;
}

/** `2026-11-25 03:15:02 UTC`. */
export function utcText(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** The view of an ISO time or wall-clock ms; undefined for null, missing or unreadable times. */
export function timeView(time: string | number | null | undefined, nowMs: number): TimeView | undefined {
  if (time === null || time === undefined) return undefined;
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (!Number.isFinite(ms)) return undefined;
  return { iso: new Date(ms).toISOString(), utc: utcText(ms), relative: relativeTime(ms, nowMs) };
}

/** A duration for people: `30 s`, `2 min`, `1 min 30 s`, `1 h 5 min`. */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (rest || parts.length === 0) parts.push(`${rest} s`);
  return parts.join(' ');
}
