import { describe, expect, it } from 'vitest';
import { fromNativeError, Tail2Error } from '../daemon/model/tail2-error.js';
import { loadNativeAddon } from '../daemon/sampler/native-addon.js';
import { assertSamplingPrivileges, effectiveCapabilities } from '../daemon/sampler/privileges.js';

// Every way loading BPF can fail must end in a message that says what to do.
describe('BPF failure messages', () => {
  const { describeBpfError } = loadNativeAddon();

  it('names the capabilities on EPERM', () => {
    const error = describeBpfError('load the BPF programs', 1, '');
    expect(error.code).toBe('TAIL2_NO_PRIVILEGE');
    expect(error.message).toMatch(/^failed to load the BPF programs: Operation not permitted\. .*CAP_BPF and CAP_PERFMON/);
    // Root or the unit's ambient capabilities; never a capability on the shared node binary.
    expect(error.hint).toContain('AmbientCapabilities=CAP_BPF CAP_PERFMON');
    expect(error.hint).not.toMatch(/setcap/);
  });

  it('attaches the verifier log when the verifier refuses a program', () => {
    const log = 'libbpf: prog \'sample_stack\': BPF program load failed: Permission denied\n-- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\ninvalid mem access \'scalar\'\nprocessed 12 insns\n-- END PROG LOAD LOG --\n';
    const error = describeBpfError('load the BPF programs', 13, log);
    expect(error.code).toBe('TAIL2_VERIFIER');
    expect(error.verifierLog).toContain("invalid mem access 'scalar'");
    const converted = fromNativeError(error);
    expect(converted).toBeInstanceOf(Tail2Error);
    expect(converted.code).toBe('TAIL2_VERIFIER');
    expect(converted.message).toContain('--- verifier log ---');
    expect(converted.message).toContain('processed 12 insns');
  });

  it('says the kernel needs BTF when there is none', () => {
    const error = describeBpfError('find kernel BTF at /sys/kernel/btf/vmlinux', 3, '');
    expect(error.code).toBe('TAIL2_NO_BTF');
    expect(error.message).toContain('CONFIG_DEBUG_INFO_BTF');
  });

  it('explains a refused sampling frequency', () => {
    const error = describeBpfError('open the cpu-clock perf event on CPU 0', 22, '');
    expect(error.code).toBe('TAIL2_PERF_EVENT');
    expect(error.message).toContain('perf_event_max_sample_rate');
  });

  it('mentions the locked-memory limit when it is low', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = `const a = require(${JSON.stringify(require.resolve('../native/build/Release/tail2_native.node'))}); console.log(a.describeBpfError('create BPF maps', 1, '').message)`;
    const output = execFileSync('prlimit', ['--memlock=65536', process.execPath, '-e', script]).toString();
    expect(output).toMatch(/locked-memory limit is 64 KiB.*LimitMEMLOCK=infinity/);
  });
});

describe('privilege check', () => {
  const CAP_SYS_ADMIN = 1n << 21n;
  const CAP_PERFMON = 1n << 38n;
  const CAP_BPF = 1n << 39n;

  it('accepts CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN', () => {
    expect(() => assertSamplingPrivileges(CAP_BPF | CAP_PERFMON)).not.toThrow();
    expect(() => assertSamplingPrivileges(CAP_SYS_ADMIN)).not.toThrow();
  });

  it('names exactly the missing capability', () => {
    expect(() => assertSamplingPrivileges(CAP_BPF)).toThrow(/lacks CAP_PERFMON \(/);
    expect(() => assertSamplingPrivileges(CAP_PERFMON)).toThrow(/lacks CAP_BPF \(/);
    expect(() => assertSamplingPrivileges(0n)).toThrow(/lacks CAP_BPF and CAP_PERFMON/);
    let hint: string | undefined;
    try {
      assertSamplingPrivileges(0n);
    } catch (error) {
      hint = (error as Tail2Error).hint;
    }
    expect(hint).toMatch(/root .*AmbientCapabilities=CAP_BPF CAP_PERFMON/);
    expect(hint).not.toMatch(/setcap/);
  });

  it('reads the effective set from /proc/self/status', () => {
    expect(effectiveCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n')).toBe((1n << 41n) - 1n);
    expect(effectiveCapabilities()).toBeGreaterThan(0n); // tests run as root
  });
});
