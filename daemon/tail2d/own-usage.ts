import { memoryUsage } from 'node:process';

/** tail2d's own CPU (share of one core over the last interval) and memory, for /status. */
export class OwnUsage {
  private lastCpuUs = process.cpuUsage();
  private lastAtMs = Date.now();
  private cpuShare = 0;

  /** Call once per collector round. */
  sample(nowMs: number): void {
    const cpu = process.cpuUsage();
    const usedUs = cpu.user - this.lastCpuUs.user + (cpu.system - this.lastCpuUs.system);
    const elapsedMs = nowMs - this.lastAtMs;
    if (elapsedMs > 0) this.cpuShare = usedUs / 1000 / elapsedMs;
    this.lastCpuUs = cpu;
    this.lastAtMs = nowMs;
  }

  current(): { cpu_percent_of_core: number; rss_bytes: number; heap_used_bytes: number } {
    const memory = memoryUsage();
    return { cpu_percent_of_core: Math.round(this.cpuShare * 1000) / 10, rss_bytes: memory.rss, heap_used_bytes: memory.heapUsed };
  }
}
