// PLT stubs: the few bytes through which a call to another file's function goes. They have no
// symbol of their own, so without this a sample in one is an unnamed address; perf and objdump
// name them `target@plt`, and so does the reader.
#pragma once

#include <gelf.h>
#include <cstdint>
#include <string>
#include <vector>

struct PltStub {
  GElf_Addr vaddr;  // ELF virtual address of the stub
  GElf_Addr size;
  std::string target;  // the function it jumps to, as its symbol names it ("clock_gettime")
};

// The named stubs of `elf`'s .plt, .plt.sec and .plt.got (x86-64 only; other machines: none).
// The file is untrusted: every count and offset is bounded by the section it comes from, the
// relocations read, bytes scanned and name lengths are capped, and at most `maxStubs` are returned.
std::vector<PltStub> FindPltStubs(Elf* elf, size_t maxStubs);
