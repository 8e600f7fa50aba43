import type { IncidentRecord } from './incident-record.js';

const MiB = 1024 * 1024;

/**
 * The firing value in words people read at 3am, for titles and messages: `cpu 99% of a core
 * (above 80%)`, `rss_growth 1,180 MiB/min (above 200MiB/min)`, `manual: disk is slow`.
 */
export function describeTrigger(record: Pick<IncidentRecord, 'trigger' | 'instance'>): string {
  const { trigger, instance } = record;
  if (trigger.kind === 'manual') return `manual: ${trigger.reason}`;
  const v = trigger.value;
  let value: string;
  switch (trigger.metric) {
    case 'cpu':
      value = instance.kind === 'system' ? `${v.toFixed(2)} cores busy` : `${Math.round(v * 100)}% of a core`;
      break;
    case 'rss':
      value = `${Math.round(v / MiB).toLocaleString('en-US')} MiB`;
      break;
    case 'rss_growth':
      value = `${Math.round((v * 60) / MiB).toLocaleString('en-US')} MiB/min`;
      break;
    case 'cache_miss_rate':
      value = `${Math.round(v).toLocaleString('en-US')} misses/s`;
      break;
    default:
      value = `${(v * 100).toFixed(1)}% stalled`;
  }
  return `${trigger.metric} ${value} (${trigger.comparison} ${trigger.thresholdText})`;
}
