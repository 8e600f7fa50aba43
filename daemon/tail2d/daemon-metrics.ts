import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RuleStateView } from '../model/rule-state.js';

/** The daemon's numbers at scrape time; totals only ever grow while the daemon runs. */
export interface DaemonGauges {
  sampler: { samples: number; lost: number; droppedInUserspace: number; failedBatches: number; frequency: number; cpus: number; running: boolean };
  buffer: { spanSeconds: number; bytes: number; maxBytes: number; samples: number; expiredSamples: number; evictedEarlySamples: number };
  rules: RuleStateView[];
  capturesInFlight: number;
  /** Incidents written without some of their parts (`problems` in incident.json), and incidents not written at all. */
  incidentsDegraded: number;
  incidentsLost: number;
  store: { incidents: number; bytes: number } | null;
  notifications: { redisUp: boolean; outbox: number; targets: Array<{ target: string; waiting: number; delayed: number; active: number; failed: number }> } | null;
}

const RULE_STATES = ['inactive', 'pending', 'firing', 'cooldown'] as const;

/**
 * GET /metrics (Prometheus text format, prom-client): what the sampler took and lost, the buffer,
 * rule states, incidents by rule, notifications by outcome, collector and capture durations, and
 * the process's own CPU and memory (prom-client's default process metrics).
 *
 * Values kept elsewhere (sampler totals, rule states) are read at scrape time; events (an
 * incident written, a notification outcome, a collector round) are counted as they happen.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly incidents: Counter<'rule'>;
  private readonly notifications: Counter<'target' | 'outcome'>;
  private readonly collectorSeconds: Histogram;
  private readonly captureSeconds: Histogram;

  constructor(read: () => DaemonGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Each scrape reads the daemon once; every collect() below uses that one reading.
    let reading: DaemonGauges | undefined;
    let readingAt = -1;
    const now = (): DaemonGauges => {
      const at = Date.now();
      if (!reading || at - readingAt > 100) {
        reading = read();
        readingAt = at;
      }
      return reading;
    };

    growingTotal(registers, 'tail2_samples_total', 'Stack samples taken by the BPF program', () => now().sampler.samples);
    growingTotal(registers, 'tail2_samples_lost_total', 'Samples the kernel could not put in the full ring buffer', () => now().sampler.lost);
    growingTotal(registers, 'tail2_samples_dropped_total', 'Samples read but dropped before the rolling buffer (queue to JavaScript full)', () => now().sampler.droppedInUserspace);
    growingTotal(registers, 'tail2_sample_batches_failed_total', 'Sample batches whose ingest failed and were dropped', () => now().sampler.failedBatches);
    growingTotal(registers, 'tail2_buffer_evicted_early_samples_total', 'Samples evicted before their time because buffer.max_memory was reached', () => now().buffer.evictedEarlySamples);
    gauge(registers, 'tail2_sampler_running', 'Whether the sampler runs (1) or stopped on an error (0)', () => (now().sampler.running ? 1 : 0));
    gauge(registers, 'tail2_sampler_cpus', 'CPUs being sampled', () => now().sampler.cpus);
    gauge(registers, 'tail2_sampling_frequency_hertz', 'Samples per second per CPU', () => now().sampler.frequency);
    gauge(registers, 'tail2_buffer_span_seconds', 'Time span of the samples held in the rolling buffer', () => now().buffer.spanSeconds);
    gauge(registers, 'tail2_buffer_bytes', 'Memory of the rolling buffer (samples, stacks, processes)', () => now().buffer.bytes);
    gauge(registers, 'tail2_buffer_max_bytes', 'buffer.max_memory', () => now().buffer.maxBytes);
    gauge(registers, 'tail2_buffer_samples', 'Samples held in the rolling buffer', () => now().buffer.samples);
    gauge(registers, 'tail2_captures_in_flight', 'Captures waiting for their after window or a retried write', () => now().capturesInFlight);
    growingTotal(registers, 'tail2_incidents_degraded_total', 'Incidents written without some of their parts (see problems in incident.json)', () => now().incidentsDegraded);
    growingTotal(registers, 'tail2_incidents_lost_total', 'Captures that could not be written at all, not even reduced to incident.json and samples', () => now().incidentsLost);
    gauge(registers, 'tail2_store_incidents', 'Incidents on disk', () => now().store?.incidents ?? 0);
    gauge(registers, 'tail2_store_bytes', 'Bytes of incidents on disk', () => now().store?.bytes ?? 0);
    gauge(registers, 'tail2_notification_outbox', 'Notifications stored and not yet delivered or failed', () => now().notifications?.outbox ?? 0);
    gauge(registers, 'tail2_redis_up', 'Whether the notification queue reaches Redis (absent without notifiers)', () => {
      const notifications = now().notifications;
      return notifications ? (notifications.redisUp ? 1 : 0) : undefined;
    });

    new Gauge({
      name: 'tail2_notification_jobs',
      help: 'Notification jobs in the queue by notifier and state',
      labelNames: ['target', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const target of now().notifications?.targets ?? []) {
          for (const state of ['waiting', 'delayed', 'active', 'failed'] as const) this.set({ target: target.target, state }, target[state]);
        }
      },
    });
    new Gauge({
      name: 'tail2_rule_instances',
      help: 'Instances (processes, cgroups, the system) each rule tracks, by state',
      labelNames: ['rule', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const view of now().rules) {
          for (const state of RULE_STATES) this.set({ rule: view.rule.name, state }, view.instances.filter((i) => i.state === state).length);
        }
      },
    });
    this.incidents = new Counter({ name: 'tail2_incidents_total', help: 'Incidents written, by rule (manual for tail2 capture)', labelNames: ['rule'] as const, registers });
    this.notifications = new Counter({
      name: 'tail2_notifications_total',
      help: 'Notification attempts by notifier and outcome (delivered, retrying, failed)',
      labelNames: ['target', 'outcome'] as const,
      registers,
    });
    this.collectorSeconds = new Histogram({
      name: 'tail2_collector_duration_seconds',
      help: 'Wall time of one round of the metric collectors',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.captureSeconds = new Histogram({
      name: 'tail2_capture_render_duration_seconds',
      help: 'Wall time from a capture window closing to its incident on disk (symbolize, render, write)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  incidentWritten(rule: string, renderSeconds: number): void {
    this.incidents.inc({ rule });
    this.captureSeconds.observe(renderSeconds);
  }

  notificationOutcome(target: string, outcome: string): void {
    this.notifications.inc({ target, outcome });
  }

  collectorRound(seconds: number): void {
    this.collectorSeconds.observe(seconds);
  }

  /** The exposition text and its content type, for GET /metrics. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * A counter whose total is kept by someone else (the sampler's statistics): each scrape adds what
 * grew since the last one, so Prometheus sees a proper counter.
 */
function growingTotal(registers: Registry[], name: string, help: string, total: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const value = total();
      if (value > seen) this.inc(value - seen);
      seen = Math.max(seen, value);
    },
  });
}

/** A gauge read at scrape time; undefined leaves it without a sample. */
function gauge(registers: Registry[], name: string, help: string, value: () => number | undefined): void {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      const v = value();
      if (v === undefined) this.reset();
      else this.set(v);
    },
  });
}
