/**
 * The base of every error tail2 throws for a failure a person must act on. `code` is stable
 * (callers branch on it, never on the message); `hint` says what to do next. Each stage's errors
 * extend it with codes of their own (`StoreError`: `TAIL2_STORE_*` and file-system codes,
 * `ManagedRedisError`: `REDIS_*`, `DeliveryError`: `TAIL2_DELIVERY_*`, `RulesFileError`, …);
 * the codes of the commands and the sampler are {@link Tail2ErrorCode}.
 */
export class Tail2Error<Code extends string = Tail2ErrorCode> extends Error {
  override name: string = 'Tail2Error';

  constructor(
    readonly code: Code,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(hint ? `${message} ${hint}` : message, options);
  }
}

export type Tail2ErrorCode =
  /** Missing CAP_BPF/CAP_PERFMON (or root). */
  | 'TAIL2_NO_PRIVILEGE'
  /** The kernel has no BTF at /sys/kernel/btf/vmlinux. */
  | 'TAIL2_NO_BTF'
  /** The BPF verifier refused a program; the log is in the message. */
  | 'TAIL2_VERIFIER'
  /** The kernel refused the perf event (frequency above perf_event_max_sample_rate, …). */
  | 'TAIL2_PERF_EVENT'
  /** Out of file descriptors. */
  | 'TAIL2_FD_LIMIT'
  /** The kernel could not allocate the BPF maps. */
  | 'TAIL2_NO_MEMORY'
  /** Any other failure to load or attach BPF. */
  | 'TAIL2_BPF'
  /** The native addon is not built or does not load. */
  | 'TAIL2_NO_ADDON'
  /** A command-line argument is wrong. */
  | 'TAIL2_USAGE'
  /** Writing an output file failed. */
  | 'TAIL2_OUTPUT'
  /** A rules file cannot be read or does not validate (see triggers/rules-file-error.ts). */
  | 'TAIL2_RULES'
  /** tail2.yaml cannot be read or does not validate (see daemon/config/load-config.ts). */
  | 'TAIL2_CONFIG'
  /** The daemon is not running or did not answer (tail2 capture, status, incidents). */
  | 'TAIL2_DAEMON'
  /** tail2 install was not run as root. */
  | 'TAIL2_INSTALL_NOT_ROOT'
  /** tail2 install's --prefix is not an absolute path. */
  | 'TAIL2_INSTALL_PREFIX'
  /** tail2 install found the node binary, the prefix's folders or the copy changeable by someone other than root. */
  | 'TAIL2_INSTALL_UNSAFE';

/** Native addon errors carry `code`/`hint`/`verifierLog` set by native/libbpf-error.cc. */
export function fromNativeError(error: unknown): Tail2Error {
  if (error instanceof Tail2Error) return error;
  const native = error as { message?: string; code?: string; verifierLog?: string };
  const known: Tail2ErrorCode[] = ['TAIL2_NO_PRIVILEGE', 'TAIL2_NO_BTF', 'TAIL2_VERIFIER', 'TAIL2_PERF_EVENT', 'TAIL2_FD_LIMIT', 'TAIL2_NO_MEMORY'];
  const code = known.find((c) => c === native.code) ?? 'TAIL2_BPF';
  let message = native.message ?? String(error);
  if (native.verifierLog) message += `\n--- verifier log ---\n${native.verifierLog.trimEnd()}`;
  return new Tail2Error(code, message, undefined, { cause: error });
}
