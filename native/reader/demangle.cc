// Demangling of the names symbols and DWARF carry, through libiberty's cplus_demangle.
#include "demangle.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

// libiberty.h (pulled in by libiberty/demangle.h) declares its own `basename` unless told that the
// C library already has one, which clashes with glibc's C++ overloads from <string.h>.
#define HAVE_DECL_BASENAME 1
#include <libiberty/demangle.h>

namespace {

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};

// libiberty's Rust demangler already drops the legacy "::h<16 hex>" hash; a name whose hash has
// too few distinct digits fails its Rust check and comes back from the Itanium demangler with the
// hash still attached, so drop it here too.
void StripRustHash(std::string* name) {
  constexpr size_t kHashLen = 3 + 16;  // "::h" + 16 hex digits
  if (name->size() <= kHashLen) return;
  const size_t at = name->size() - kHashLen;
  if (name->compare(at, 3, "::h") != 0) return;
  for (size_t i = at + 3; i < name->size(); i++) {
    const char c = (*name)[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return;
  }
  name->erase(at);
}

}  // namespace

std::string Demangle(const char* raw) {
  // Real mangled names stay well under this; a longer one is hostile (libiberty's demanglers have
  // had exponential cases) and stays as it is, to be cut by the caller.
  constexpr size_t kMaxMangledBytes = 8192;
  if (strnlen(raw, kMaxMangledBytes + 1) > kMaxMangledBytes) return std::string(raw, kMaxMangledBytes);
  std::unique_ptr<char, FreeDeleter> demangled(
      cplus_demangle(raw, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO));
  if (!demangled) return raw;
  std::string name(demangled.get());
  StripRustHash(&name);
  return name;
}
