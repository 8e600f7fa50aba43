import { basename } from 'node:path';
import type { Frame, FrameKind, Stack, SymbolizedProfile } from '../profile/symbolized-profile.js';
import { processSnapshot } from '../profile/recording.js';
import type { SampleSource, StackTables } from '../profile/sample-source.js';
import type { ProcessEntry } from '../profile/process-table.js';
import type { NativeSymbolFrame, NativeSymbolizer } from '../sampler/native-addon.js';
import { KernelSymbols } from './kallsyms.js';
import { PerfMap } from './perf-map.js';
import { findMapping, snapshotProcess, type ExecutableMapping, type ProcessSnapshot } from './proc-maps.js';

export interface SymbolizeOptions {
  /** Sampling frequency the recording was made at (Hz). */
  frequency: number;
  /** Converts a sample's monotonic timestamp (ns) to wall-clock milliseconds. */
  monotonicToWallMs: (monotonicNs: number) => number;
  /** Keep only samples of processes this accepts (default: all). */
  includeProcess?: (process: ProcessEntry, snapshot: ProcessSnapshot | undefined) => boolean;
  /** Keep only samples in [fromNs, toNs) on the monotonic clock. */
  fromNs?: number;
  toNs?: number;
  title?: string;
}

/** A frame before interning: innermost first when it comes from a lookup. */
type FrameList = Frame[];

/** Resolves one process's user address when nothing better is known. */
function unknownFrame(mapping: ExecutableMapping | undefined, fileOffset: number): Frame {
  if (!mapping) return { name: '[unknown]', kind: 'unknown' };
  const module = mapping.path || '[anon]';
  return { name: `[${basename(module)}+0x${fileOffset.toString(16)}]`, kind: 'unknown', module };
}

/**
 * Turns a recording's raw stacks into a {@link SymbolizedProfile}: kernel frames from kallsyms, native
 * user frames (with inlined frames and file:line) through the native libdwfl symbolizer, JIT frames
 * from /tmp/perf-PID.map. Only the stacks the selected samples use are resolved; each module is
 * resolved in one call for all its addresses.
 */
export class ProfileSymbolizer {
  private kernel: KernelSymbols | undefined;

  constructor(private readonly native: NativeSymbolizer) {}

  async symbolize(tables: StackTables, samples: SampleSource, options: SymbolizeOptions): Promise<SymbolizedProfile> {
    const { stacks, processes } = tables;
    const fromNs = options.fromNs ?? -Infinity;
    const toNs = options.toNs ?? Infinity;
    const include = options.includeProcess ?? (() => true);
    const accepted = new Map<number, boolean>();
    const processAccepted = (processId: number): boolean => {
      let verdict = accepted.get(processId);
      if (verdict === undefined) {
        const process = processes.get(processId);
        accepted.set(processId, (verdict = include(process, processSnapshot(process))));
      }
      return verdict;
    };

    // 1. Which samples and stacks are in.
    const selectedTime: number[] = [];
    const selectedStack: number[] = [];
    const usedStacks = new Map<number, number>(); // raw stack id -> profile stack index
    samples.forEachSample(fromNs, toNs, (time, stackId) => {
      if (!processAccepted(stacks.processOf(stackId))) return;
      selectedTime.push(time);
      selectedStack.push(stackId);
      if (!usedStacks.has(stackId)) usedStacks.set(stackId, usedStacks.size);
    });

    // 2. Resolve every distinct user address once, grouped by module.
    const userFrames = await this.resolveUserAddresses(tables, [...usedStacks.keys()]);
    this.kernel ??= KernelSymbols.load();

    // 3. Intern frames and build stacks root first.
    const frames: Frame[] = [];
    const frameIds = new Map<string, number>();
    const internFrame = (frame: Frame): number => {
      const key = `${frame.kind}|${frame.module ?? ''}|${frame.name}|${frame.file ?? ''}|${frame.line ?? ''}|${frame.inlined ? 1 : 0}`;
      let id = frameIds.get(key);
      if (id === undefined) {
        id = frames.length;
        frames.push(frame);
        frameIds.set(key, id);
      }
      return id;
    };
    const profileStacks: Stack[] = [];
    for (const [stackId] of usedStacks) {
      const process = processes.get(stacks.processOf(stackId));
      const kernelLen = stacks.kernelLength(stackId);
      const userLen = stacks.userLength(stackId);
      const rootFirst: number[] = [];
      for (let i = userLen - 1; i >= 0; i--) {
        const resolved = userFrames.get(process.id)?.get(stacks.frame(stackId, kernelLen + i)) ?? [{ name: '[unknown]', kind: 'unknown' as FrameKind }];
        for (let j = resolved.length - 1; j >= 0; j--) rootFirst.push(internFrame(resolved[j]));
      }
      for (let i = kernelLen - 1; i >= 0; i--) rootFirst.push(internFrame(this.kernelFrame(stacks.frame(stackId, i), i > 0)));
      profileStacks.push({ frames: rootFirst, pid: process.pid, comm: tables.comms.name(stacks.commOf(stackId)) });
    }

    // 4. Samples, relative to the first selected one.
    const count = selectedTime.length;
    const stackColumn = new Uint32Array(count);
    const timeColumn = new Float64Array(count);
    const startNs = Number.isFinite(fromNs) ? fromNs : count > 0 ? selectedTime[0] : 0;
    for (let i = 0; i < count; i++) {
      stackColumn[i] = usedStacks.get(selectedStack[i]) ?? 0;
      timeColumn[i] = selectedTime[i] - startNs;
    }
    const lastNs = count > 0 ? selectedTime[count - 1] : startNs;
    const endNs = Number.isFinite(toNs) ? toNs : lastNs + 1e9 / options.frequency;
    return {
      startTimeMs: options.monotonicToWallMs(startNs),
      durationNs: Math.max(0, endNs - startNs),
      periodNs: 1e9 / options.frequency,
      frequency: options.frequency,
      frames,
      stacks: profileStacks,
      samples: { stack: stackColumn, timeNs: timeColumn },
      title: options.title,
    };
  }

  private kernelFrame(address: bigint, isReturnAddress: boolean): Frame {
    const symbol = this.kernel?.resolve(isReturnAddress ? address - 1n : address);
    if (!symbol) return { name: '[kernel]', kind: 'kernel', module: '[kernel.kallsyms]', address };
    return { name: symbol.name, kind: 'kernel', module: symbol.module, address };
  }

  /**
   * For every process, address -> frames (innermost first). Return addresses (every frame but the
   * leaf) are looked up at address - 1 so the call instruction, not the next line, is reported.
   */
  private async resolveUserAddresses(tables: StackTables, stackIds: number[]): Promise<Map<number, Map<bigint, FrameList>>> {
    const { stacks, processes } = tables;
    const result = new Map<number, Map<bigint, FrameList>>();
    interface ModuleWork {
      mapping: ExecutableMapping;
      offsets: Map<number, Array<{ processId: number; address: bigint }>>;
    }
    const modules = new Map<string, ModuleWork>();
    const perfMaps = new Map<number, PerfMap | undefined>();
    const refreshed = new Set<number>();

    for (const stackId of stackIds) {
      const processId = stacks.processOf(stackId);
      const process = processes.get(processId);
      const kernelLen = stacks.kernelLength(stackId);
      const userLen = stacks.userLength(stackId);
      let byAddress = result.get(processId);
      if (!byAddress) result.set(processId, (byAddress = new Map()));
      for (let i = 0; i < userLen; i++) {
        const address = stacks.frame(stackId, kernelLen + i);
        if (byAddress.has(address)) continue;
        const lookup = Number(address) - (i > 0 ? 1 : 0);
        let snapshot = processSnapshot(process);
        let mapping = snapshot ? findMapping(snapshot.mappings, lookup) : undefined;
        if (!mapping && !refreshed.has(processId)) {
          // Mapped after the first sight (dlopen, a JIT growing): read the maps again if it still runs.
          refreshed.add(processId);
          const fresh = snapshotProcess(process.pid);
          if (fresh && (!snapshot || fresh.mappings.length >= snapshot.mappings.length)) {
            process.snapshot = snapshot = fresh;
            mapping = findMapping(fresh.mappings, lookup);
          }
        }
        if (mapping && mapping.openPath) {
          const fileOffset = lookup - mapping.start + mapping.offset;
          let work = modules.get(mapping.cacheKey);
          if (!work) modules.set(mapping.cacheKey, (work = { mapping, offsets: new Map() }));
          let users = work.offsets.get(fileOffset);
          if (!users) work.offsets.set(fileOffset, (users = []));
          users.push({ processId, address });
          byAddress.set(address, [unknownFrame(mapping, fileOffset)]);
          continue;
        }
        // Anonymous executable memory (or no mapping at all): a JIT's perf map may name it.
        if (!perfMaps.has(processId)) perfMaps.set(processId, readPerfMap(process, snapshot));
        const jitName = perfMaps.get(processId)?.resolve(lookup);
        if (jitName !== undefined) {
          byAddress.set(address, [{ name: jitName, kind: 'jit', module: '[jit]', address }]);
        } else if (mapping && mapping.path.startsWith('[')) {
          byAddress.set(address, [{ name: mapping.path, kind: 'native', module: mapping.path, address }]);
        } else {
          byAddress.set(address, [unknownFrame(mapping, lookup - (mapping?.start ?? 0) + (mapping?.offset ?? 0))]);
        }
      }
    }

    await Promise.all(
      [...modules.values()].map(async ({ mapping, offsets }) => {
        const fileOffsets = BigUint64Array.from([...offsets.keys()].map((offset) => BigInt(offset)));
        let resolved: NativeSymbolFrame[][];
        try {
          resolved = await this.native.symbolize(mapping.openPath, mapping.cacheKey, fileOffsets);
        } catch {
          return; // unreadable or gone: the [module+0xoffset] frames already stand in
        }
        let index = 0;
        for (const [fileOffset, users] of offsets) {
          const native = resolved[index++] ?? [];
          if (native.length === 0) continue;
          const frames = native.map(
            (f): Frame => ({ name: f.name, kind: 'native', module: mapping.path, file: f.file, line: f.line, inlined: f.inlined, address: BigInt(fileOffset) }),
          );
          for (const { processId, address } of users) result.get(processId)?.set(address, frames);
        }
      }),
    );
    return result;
  }
}

function readPerfMap(process: ProcessEntry, snapshot: ProcessSnapshot | undefined): PerfMap | undefined {
  const root = snapshot?.rootPrefix ?? '';
  const namespacePid = snapshot?.namespacePid ?? process.pid;
  return PerfMap.read(`${root}/tmp/perf-${namespacePid}.map`) ?? (root ? PerfMap.read(`/tmp/perf-${process.pid}.map`) : undefined);
}
