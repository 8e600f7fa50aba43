// Symbolizer: file offsets inside an ELF file -> function names (demangled), inlined frames and
// file:line, through elfutils' libdwfl. Exposed to JS as class `Symbolizer` and `demangle()`:
//
//   new Symbolizer({ maxModules?: number = 64, debugDirectories?: string[] = ['/usr/lib/debug'] })
//   symbolize(path, cacheKey, fileOffsets: BigUint64Array)
//       -> Promise<Array<Array<{ name, file?, line?, inlined }>>>   one stack per offset,
//          innermost frame first; [] when nothing is known. Offsets are looked up as given: pass
//          return addresses minus one for caller frames.
//   moduleInfo(path, cacheKey) -> Promise<{ buildId?, hasSymbols, hasDwarf, debugFile? }>
//   clear(); size
//   demangle(name) -> string    C++ and Rust (legacy, v0); other names unchanged
//
// Rejections carry `code` ('ENOENT', 'EACCES', 'EISDIR', 'ENOTELF', 'EBADELF', 'EDWFL') and
// `path`; system-call failures also `errno` (negative, as Node's) and `syscall`.
#pragma once
#include <napi.h>

void InitSymbolizer(Napi::Env env, Napi::Object exports);
