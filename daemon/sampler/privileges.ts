import { readFileSync } from 'node:fs';
import { Tail2Error } from '../model/tail2-error.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The effective capability set of this process, from /proc/self/status. */
export function effectiveCapabilities(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return line ? BigInt('0x' + line[1]) : 0n;
}

/**
 * Loading BPF and opening system-wide perf events needs CAP_BPF and CAP_PERFMON (kernel 5.8+), or
 * CAP_SYS_ADMIN, which implies both. Checked before touching the kernel so the message can name
 * exactly what is missing.
 */
export function assertSamplingPrivileges(capabilities = effectiveCapabilities()): void {
  const has = (cap: bigint) => (capabilities & (1n << cap)) !== 0n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return;
  const missing = [has(CAP_BPF) ? '' : 'CAP_BPF', has(CAP_PERFMON) ? '' : 'CAP_PERFMON'].filter(Boolean).join(' and ');
  throw new Tail2Error(
    'TAIL2_NO_PRIVILEGE',
    `tail2 cannot sample: this process lacks ${missing} (effective capabilities 0x${capabilities.toString(16)}).`,
    // Never a file capability on node: that binary is shared, and every Node program on the host
    // would get to load BPF and read every process's stacks.
    'Run it as root (sudo), or as the systemd service `tail2 install` writes, whose unit grants AmbientCapabilities=CAP_BPF CAP_PERFMON to tail2d alone.',
  );
}
