#include "unwind-table.h"

#include <dwarf.h>
#include <gelf.h>
#include <string.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <unordered_map>

namespace {

// DWARF x86-64 register numbers.
constexpr int kRbp = 6;
constexpr int kRsp = 7;
constexpr int kRip = 16;

// A hostile file gets at most this many rows per FDE looked at (a real one has a few dozen).
constexpr int kMaxRowsPerFde = 100000;

// libdw keeps a rule for every register up to the highest one an FDE names, and clears them all
// for each lookup: a register number of 10^8 costs a 1.6 GB memset per row. x86-64's highest
// DWARF register is k7 (125); CFI naming one past this is refused.
constexpr uint64_t kMaxRegister = 255;
// Each DW_CFA_remember_state copies the whole frame state; real CFI nests one or two.
constexpr int kMaxRememberDepth = 64;
// The work of one section's lookups, in bytes of CFA program executed (each remembered state
// counted as the bytes it copies / 16): libdw executes an FDE's program from its start for every
// row, so an FDE of N bytes costs O(N) per row. Debian's libc needs 2^21, /usr/bin/node (100 MB,
// 76,000 FDEs) 2^26 (0.3 s); past this (~3 s), the remaining FDEs get no rows (the walk uses frame
// pointers there) and are counted.
constexpr uint64_t kMaxWork = 1ull << 29;

struct Section {
  Elf_Data* data = nullptr;
  GElf_Addr addr = 0;
};

Section FindSection(Elf* elf, const char* wanted) {
  Section found;
  size_t shstrndx = 0;
  if (elf == nullptr || elf_getshdrstrndx(elf, &shstrndx) != 0) return found;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr || strcmp(name, wanted) != 0) continue;
    found.data = elf_getdata(scn, nullptr);
    found.addr = shdr.sh_addr;
    if (found.data != nullptr && found.data->d_buf == nullptr) found.data = nullptr;
    return found;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// FDE address ranges, decoded from the raw entries dwarf_next_cfi hands out (libdw reads the
// instructions; where an FDE applies it leaves to the caller).

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  uint64_t Fixed(int bytes, bool isSigned) {
    if (end - p < bytes) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    memcpy(&v, p, static_cast<size_t>(bytes));  // little-endian hosts, as the BPF side
    p += bytes;
    if (isSigned && bytes < 8 && (v >> (bytes * 8 - 1)) != 0) v |= ~0ull << (bytes * 8);
    return v;
  }

  uint64_t Leb(bool isSigned) {
    uint64_t v = 0;
    int shift = 0;
    uint8_t byte = 0x80;
    while ((byte & 0x80) != 0) {
      if (p >= end || shift > 63) {
        ok = false;
        return 0;
      }
      byte = *p++;
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      shift += 7;
    }
    if (isSigned && shift < 64 && (byte & 0x40) != 0) v |= ~0ull << shift;
    return v;
  }

  // A DW_EH_PE_* encoded value; `fieldAddr` is the address the field sits at (for pcrel).
  uint64_t Encoded(uint8_t enc, uint64_t fieldAddr, bool applyBase) {
    uint64_t v;
    switch (enc & 0x0f) {
      case 0x00: v = Fixed(8, false); break;
      case 0x01: v = Leb(false); break;
      case 0x02: v = Fixed(2, false); break;
      case 0x03: v = Fixed(4, false); break;
      case 0x04: v = Fixed(8, false); break;
      case 0x09: v = Leb(true); break;
      case 0x0a: v = Fixed(2, true); break;
      case 0x0b: v = Fixed(4, true); break;
      case 0x0c: v = Fixed(8, true); break;
      default: ok = false; return 0;
    }
    if (!applyBase) return v;
    switch (enc & 0x70) {
      case 0x00: return v;
      case 0x10: return v + fieldAddr;  // pcrel
      default: ok = false; return 0;    // datarel, textrel, funcrel: not used by FDE ranges on x86-64
    }
  }
};

struct FdeRange {
  uint64_t lo;
  uint64_t hi;
  uint64_t cost = 0;  // work of one lookup in it (see kMaxWork)
};

// What one CFA program costs libdw, and whether it may run at all.
struct ProgramScan {
  bool ok = true;
  std::string why;
  uint64_t bytes = 0;
  uint64_t remembers = 0;
  uint64_t maxRegister = 16;
};

// Reads a CFA program's instructions without executing them: every register it gives a rule is at
// most kMaxRegister, remembered states nest at most kMaxRememberDepth deep, and every operand is
// whole. libdw stops at an opcode it does not know, so the scan may too; anything else it cannot
// read makes the program (and its section) refused: real compilers never write it.
void ScanProgram(const uint8_t* p, const uint8_t* end, uint8_t fdeEncoding, ProgramScan* scan) {
  Reader r{p, end};
  int depth = 0;
  auto reg = [&](uint64_t n) {
    if (n > kMaxRegister) {
      scan->ok = false;
      scan->why = "names register " + std::to_string(n);
    }
    scan->maxRegister = std::max(scan->maxRegister, n);
  };
  auto block = [&]() {
    const uint64_t n = r.Leb(false);
    if (!r.ok || n > static_cast<uint64_t>(r.end - r.p)) {
      r.ok = false;
      return;
    }
    r.p += n;
  };
  scan->bytes += static_cast<uint64_t>(end - p);
  while (scan->ok && r.ok && r.p < r.end) {
    const uint8_t op = *r.p++;
    switch (op >> 6) {
      case 1: continue;                           // DW_CFA_advance_loc
      case 2: r.Leb(false); continue;             // DW_CFA_offset: register in the low 6 bits
      case 3: continue;                           // DW_CFA_restore: likewise
      default: break;
    }
    switch (op) {
      case DW_CFA_nop:
      case DW_CFA_GNU_window_save:  // registers 8..31
        break;
      case DW_CFA_remember_state:
        scan->remembers++;
        if (++depth > kMaxRememberDepth) {
          scan->ok = false;
          scan->why = "nests DW_CFA_remember_state more than " + std::to_string(kMaxRememberDepth) + " deep";
        }
        break;
      case DW_CFA_restore_state:
        if (depth > 0) depth--;
        break;
      case DW_CFA_set_loc: r.Encoded(fdeEncoding, 0, false); break;
      case DW_CFA_advance_loc1: r.Fixed(1, false); break;
      case DW_CFA_advance_loc2: r.Fixed(2, false); break;
      case DW_CFA_advance_loc4: r.Fixed(4, false); break;
      case DW_CFA_MIPS_advance_loc8: r.Fixed(8, false); break;
      case DW_CFA_offset_extended:
      case DW_CFA_val_offset:
      case DW_CFA_GNU_negative_offset_extended:
      case DW_CFA_register:  // its second register is a value, not a rule
        reg(r.Leb(false));
        r.Leb(false);
        break;
      case DW_CFA_offset_extended_sf:
      case DW_CFA_val_offset_sf:
        reg(r.Leb(false));
        r.Leb(true);
        break;
      case DW_CFA_restore_extended:
      case DW_CFA_undefined:
      case DW_CFA_same_value:
        reg(r.Leb(false));
        break;
      case DW_CFA_def_cfa:  // the CFA's register is kept as a number: no rule to allocate
        r.Leb(false);
        r.Leb(false);
        break;
      case DW_CFA_def_cfa_sf:
        r.Leb(false);
        r.Leb(true);
        break;
      case DW_CFA_def_cfa_register:
      case DW_CFA_def_cfa_offset:
      case DW_CFA_GNU_args_size:
        r.Leb(false);
        break;
      case DW_CFA_def_cfa_offset_sf: r.Leb(true); break;
      case DW_CFA_def_cfa_expression: block(); break;
      case DW_CFA_expression:
      case DW_CFA_val_expression:
        reg(r.Leb(false));
        block();
        break;
      default:
        return;  // libdw fails the lookup here: nothing after it runs
    }
  }
  if (scan->ok && !r.ok) {
    scan->ok = false;
    scan->why = "has an instruction cut short or an over-long number";
  }
}


struct CieInfo {
  bool valid = false;   // a CIE is there (an FDE pointing elsewhere is never used by libdw either)
  std::string refused;  // why the section cannot be used because of this CIE; empty when it can
  uint8_t encoding = 0;  // of its FDEs' address range
  bool sized = false;    // 'z': FDEs carry their augmentation data's length
  ProgramScan scan;      // of its initial instructions
};

// A pointer encoding (DW_EH_PE_*) read here exactly as libdw reads it: a value of 2, 4 or 8 bytes
// (absptr is 8 in a 64-bit file), absolute or pc-relative, and for `indirect` (personality
// pointers) the indirect bit. Other encodings (LEB128 values, aligned, data-relative) are not
// what x86-64 toolchains write: a CIE using them is refused rather than decoded one way here and
// another in libdw.
bool PlainEncoding(uint8_t enc, bool indirect) {
  if (indirect) enc &= 0x7f;
  const uint8_t format = enc & 0x0f;
  const bool sized = format == 0x00 || format == 0x02 || format == 0x03 || format == 0x04 || format == 0x0a || format == 0x0b || format == 0x0c;
  return sized && ((enc & 0x70) == 0x00 || (enc & 0x70) == 0x10);
}

size_t EncodedSize(uint8_t enc) {
  switch (enc & 0x07) {
    case 0x02: return 2;
    case 0x03: return 4;
    default: return 8;  // udata8, absptr
  }
}

// What libdw makes of a CIE's augmentation (cie.c, intern_new_cie): the FDE encoding ('R') and
// whether FDEs carry sized augmentation data ('z'). Only the forms compilers write are accepted
// ("" and "z" followed by R, P, L, S or B), so that where an FDE's program starts is certain:
// the scan must read the very bytes libdw will execute.
void ParseAugmentation(const Dwarf_CIE& cie, CieInfo* info) {
  const char* a = cie.augmentation != nullptr ? cie.augmentation : "";
  if (*a == '\0') return;
  if (*a != 'z' || cie.augmentation_data == nullptr) {
    info->refused = std::string("has augmentation \"") + a + "\", which compilers do not write";
    return;
  }
  info->sized = true;
  Reader r{cie.augmentation_data, cie.augmentation_data + cie.augmentation_data_size};
  for (a++; *a != '\0'; a++) {
    switch (*a) {
      case 'R':
        info->encoding = static_cast<uint8_t>(r.Fixed(1, false));
        if (r.ok && !PlainEncoding(info->encoding, false)) info->refused = "has an FDE encoding of " + std::to_string(info->encoding);
        break;
      case 'L':
        r.Fixed(1, false);
        break;
      case 'P': {
        const uint8_t enc = static_cast<uint8_t>(r.Fixed(1, false));
        if (r.ok && !PlainEncoding(enc, true)) info->refused = "has a personality encoding of " + std::to_string(enc);
        r.Fixed(static_cast<int>(EncodedSize(enc)), false);
        break;
      }
      case 'S':
      case 'B':
        break;
      default:
        info->refused = std::string("has augmentation \"") + cie.augmentation + "\", which compilers do not write";
        return;
    }
    if (!info->refused.empty()) return;
  }
  if (!r.ok) info->refused = "has augmentation data cut short";
}

struct SectionScan {
  std::vector<FdeRange> fdes;
  std::string refused;  // why the section is not used, empty when it is
  std::string damaged;  // the first entry that could not be read or used, empty when none
};

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// The FDEs of a CFI section and what each lookup in them costs, read entry by entry as libdw's
// own lookup reads them (past broken entries whose length can be read, as it does). Every CIE an
// FDE points at and every FDE is scanned (ScanProgram): one that may not run makes the whole
// section refused, because libdw may pick any FDE covering an address, not only the one asked.
SectionScan ScanSection(Elf* elf, const Section& section, bool ehFrame, size_t maxFdes) {
  SectionScan out;
  GElf_Ehdr ehdr;
  if (section.data == nullptr || gelf_getehdr(elf, &ehdr) == nullptr) return out;
  const char* name = ehFrame ? ".eh_frame" : ".debug_frame";
  std::unordered_map<Dwarf_Off, CieInfo> cies;
  auto cieAt = [&](Dwarf_Off at) -> const CieInfo& {
    auto found = cies.find(at);
    if (found != cies.end()) return found->second;
    CieInfo info;
    Dwarf_Off next = 0;
    Dwarf_CFI_Entry entry;
    if (dwarf_next_cfi(ehdr.e_ident, section.data, ehFrame, at, &next, &entry) == 0 && dwarf_cfi_cie_p(&entry)) {
      info.valid = true;
      ParseAugmentation(entry.cie, &info);
      if (info.refused.empty()) {
        ScanProgram(entry.cie.initial_instructions, entry.cie.initial_instructions_end, info.encoding, &info.scan);
        if (!info.scan.ok) info.refused = info.scan.why;
      }
    }
    return cies.emplace(at, std::move(info)).first->second;
  };
  const uint8_t* base = static_cast<const uint8_t*>(section.data->d_buf);
  Dwarf_Off offset = 0;
  for (size_t guard = 0; guard < maxFdes * 2; guard++) {
    Dwarf_Off next = offset;
    Dwarf_CFI_Entry entry;
    const int result = dwarf_next_cfi(ehdr.e_ident, section.data, ehFrame, offset, &next, &entry);
    if (result > 0) break;  // the end
    if (result < 0) {
      if (out.damaged.empty()) out.damaged = std::string(name) + ": the entry at " + Hex(offset) + " cannot be read";
      if (next <= offset) break;  // not even its length could be read: libdw stops here too
      offset = next;
      continue;
    }
    if (dwarf_cfi_cie_p(&entry)) {
      const CieInfo& cie = cieAt(offset);
      if (!cie.refused.empty()) {
        out.refused = std::string(name) + ": the CIE at " + Hex(offset) + " " + cie.refused;
        return out;
      }
    } else {
      // .eh_frame's CIE pointer was made a section offset by libdw, as .debug_frame's is.
      const CieInfo& cie = cieAt(entry.fde.CIE_pointer);
      if (!cie.valid && out.damaged.empty()) out.damaged = std::string(name) + ": the FDE at " + Hex(offset) + " points at no CIE";
      if (cie.valid) {
        if (!cie.refused.empty()) {
          out.refused = std::string(name) + ": the CIE at " + Hex(entry.fde.CIE_pointer) + " " + cie.refused;
          return out;
        }
        Reader r{entry.fde.start, entry.fde.end};
        const uint64_t fieldAddr = section.addr + static_cast<uint64_t>(entry.fde.start - base);
        const uint64_t raw = r.Encoded(cie.encoding & 0x0f, 0, false);
        const uint64_t length = r.Encoded(cie.encoding & 0x0f, 0, false);
        // Where the program starts: after the augmentation data, as libdw finds it.
        bool programOk = r.ok;
        if (programOk && cie.sized) {
          const uint64_t n = r.Leb(false);
          programOk = r.ok && n <= static_cast<uint64_t>(r.end - r.p);
          if (programOk) r.p += n;
        }
        if (programOk) {
          ProgramScan scan;
          ScanProgram(r.p, r.end, cie.encoding, &scan);
          if (!scan.ok) {
            out.refused = std::string(name) + ": the FDE at " + Hex(offset) + " " + scan.why;
            return out;
          }
          // pcrel is the only application FDE ranges use on x86-64; others are left out.
          uint64_t lo = raw;
          bool known = true;
          switch (cie.encoding & 0x70) {
            case 0x00: break;
            case 0x10: lo = raw + fieldAddr; break;
            default: known = false; break;
          }
          if (known && length > 0 && lo + length > lo) {
            const uint64_t frameBytes = 16 * (std::max(scan.maxRegister, cie.scan.maxRegister) + 1) + 64;
            const uint64_t cost = scan.bytes + cie.scan.bytes + (scan.remembers * frameBytes) / 16 + 16;
            out.fdes.push_back({lo, lo + length, cost});
          }
          if (out.fdes.size() >= maxFdes) break;
        }
      }
    }
    if (next <= offset) break;
    offset = next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One row's rules, in the walk's terms.

// `DW_OP_bregN off` and `DW_OP_bregx N off` as (register, offset).
bool BaseRegister(const Dwarf_Op& op, int* reg, int64_t* offset) {
  if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
    *reg = op.atom - DW_OP_breg0;
    *offset = static_cast<int64_t>(op.number);
    return true;
  }
  if (op.atom == DW_OP_bregx) {
    *reg = static_cast<int>(op.number);
    *offset = static_cast<int64_t>(op.number2);
    return true;
  }
  return false;
}

bool IsCfaPlus(const Dwarf_Op* ops, size_t nops, int64_t* offset) {
  if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
    *offset = 0;
    return true;
  }
  if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
    *offset = static_cast<int64_t>(ops[1].number);  // libdw folds negative offsets into the uconst
    return true;
  }
  return false;
}

bool FitsS16(int64_t v) { return v >= INT16_MIN && v <= INT16_MAX; }

enum class NoRule { kNone, kCfa, kRange, kReturnAddress, kFramePointer };

// The PLT's CFA: rsp + 8 + ((rip & 15) >= N) << 3, as ld writes it for lazy-binding stubs.
bool IsPltCfa(const Dwarf_Op* ops, size_t nops, int* threshold) {
  int reg;
  int64_t off;
  if (nops != 9 || !BaseRegister(ops[0], &reg, &off) || reg != kRsp || off != 8) return false;
  if (!BaseRegister(ops[1], &reg, &off) || reg != kRip || off != 0) return false;
  if (ops[2].atom != DW_OP_lit15 || ops[3].atom != DW_OP_and) return false;
  if (ops[4].atom < DW_OP_lit0 || ops[4].atom > DW_OP_lit31 || ops[5].atom != DW_OP_ge) return false;
  if (ops[6].atom != DW_OP_lit3 || ops[7].atom != DW_OP_shl || ops[8].atom != DW_OP_plus) return false;
  *threshold = ops[4].atom - DW_OP_lit0;
  return true;
}

// A register saved as "the value at address REG + OFF" (DW_CFA_expression), as libdw hands it.
bool SavedAt(const Dwarf_Op* ops, size_t nops, int wantReg, int64_t* offset) {
  if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa) {
    ops++;
    nops--;
  }
  int reg;
  return nops == 1 && BaseRegister(ops[0], &reg, offset) && reg == wantReg;
}

struct Classified {
  tail2_unwind_row row;
  NoRule why = NoRule::kNone;
};

Classified Classify(Dwarf_Frame* frame, bool signal) {
  Classified out{};
  auto none = [&](NoRule why) {
    out.row.type = TAIL2_CFA_NONE;
    out.row.aux = 0;
    out.row.cfa_offset = 0;
    out.why = why;
    return out;
  };
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;

  // The return address: at CFA - 8 for every ordinary frame; undefined marks a root.
  if (dwarf_frame_register(frame, kRip, mem, &ops, &nops) != 0) return none(NoRule::kReturnAddress);
  if (nops == 0) {
    if (ops == nullptr) return none(NoRule::kReturnAddress);  // "same value": not a frame at all
    out.row.type = TAIL2_CFA_END;
    return out;
  }
  int64_t raOffset = 0;
  if (signal) {
    // The rt_sigreturn trampoline: every register is read from the ucontext at RSP.
    int64_t rip, rbp, rsp;
    Dwarf_Op regMem[3];
    Dwarf_Op* regOps = nullptr;
    size_t regNops = 0;
    const bool ripOk = SavedAt(ops, nops, kRsp, &rip);
    const bool rbpOk = dwarf_frame_register(frame, kRbp, regMem, &regOps, &regNops) == 0 && SavedAt(regOps, regNops, kRsp, &rbp);
    Dwarf_Op* cfaOps = nullptr;
    size_t cfaNops = 0;
    int reg;
    const bool rspOk = dwarf_frame_cfa(frame, &cfaOps, &cfaNops) == 0 && cfaNops == 2 && BaseRegister(cfaOps[0], &reg, &rsp) &&
                       reg == kRsp && cfaOps[1].atom == DW_OP_deref;
    if (!ripOk || !rbpOk || !rspOk || rip != TAIL2_SIGFRAME_RIP || rbp != TAIL2_SIGFRAME_RBP || rsp != TAIL2_SIGFRAME_RSP) {
      return none(NoRule::kCfa);
    }
    out.row.type = TAIL2_CFA_SIGNAL;
    return out;
  }
  if (!IsCfaPlus(ops, nops, &raOffset) || raOffset != -8) return none(NoRule::kReturnAddress);

  // The caller's RSP must be the CFA (what "canonical frame address" means on x86-64).
  if (dwarf_frame_register(frame, kRsp, mem, &ops, &nops) == 0 && nops > 0) {
    if (!(nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_stack_value)) return none(NoRule::kCfa);
  }

  // The CFA.
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) return none(NoRule::kCfa);
  int reg;
  int64_t offset;
  uint8_t cfaType;
  int addendWords = 0;
  int threshold;
  if (nops == 1 && BaseRegister(ops[0], &reg, &offset) && (reg == kRsp || reg == kRbp)) {
    cfaType = reg == kRsp ? TAIL2_CFA_RSP : TAIL2_CFA_RBP;
  } else if ((nops == 2 || nops == 3) && BaseRegister(ops[0], &reg, &offset) && (reg == kRsp || reg == kRbp) && ops[1].atom == DW_OP_deref) {
    // Stack realignment: the CFA was saved on the stack (gcc's DRAP, hand-written assembly).
    cfaType = reg == kRsp ? TAIL2_CFA_DEREF_RSP : TAIL2_CFA_DEREF_RBP;
    if (nops == 3) {
      if (ops[2].atom != DW_OP_plus_uconst || ops[2].number % 8 != 0 || ops[2].number > 56) return none(NoRule::kCfa);
      addendWords = static_cast<int>(ops[2].number / 8);
    }
  } else if (IsPltCfa(ops, nops, &threshold)) {
    cfaType = TAIL2_CFA_PLT;
    offset = threshold;
  } else {
    return none(NoRule::kCfa);
  }
  if (!FitsS16(offset)) return none(NoRule::kRange);

  // The caller's RBP.
  uint8_t rbpType = TAIL2_RBP_SAME;
  int64_t rbpOffset = 0;
  if (dwarf_frame_register(frame, kRbp, mem, &ops, &nops) != 0) return none(NoRule::kFramePointer);
  if (nops == 0) {
    rbpType = ops == nullptr ? TAIL2_RBP_SAME : TAIL2_RBP_UNDEF;
  } else if (IsCfaPlus(ops, nops, &rbpOffset)) {
    rbpType = TAIL2_RBP_CFA;
  } else if (SavedAt(ops, nops, kRbp, &rbpOffset)) {
    rbpType = TAIL2_RBP_RBP;
  } else {
    return none(NoRule::kFramePointer);
  }
  int aux = 0;
  if (rbpType == TAIL2_RBP_CFA || rbpType == TAIL2_RBP_RBP) {
    if (rbpOffset % 8 != 0) return none(NoRule::kFramePointer);
    aux = static_cast<int>(rbpOffset / 8);
  }
  if (cfaType == TAIL2_CFA_DEREF_RSP || cfaType == TAIL2_CFA_DEREF_RBP) {
    if (aux < -16 || aux > 15) return none(NoRule::kRange);
    aux = (addendWords << 5) | (aux & 0x1f);
  } else if (aux < INT8_MIN || aux > INT8_MAX) {
    return none(NoRule::kRange);
  }
  out.row.type = static_cast<uint8_t>(cfaType | (rbpType << 4));
  out.row.aux = static_cast<int8_t>(static_cast<uint8_t>(aux));
  out.row.cfa_offset = static_cast<int16_t>(offset);
  return out;
}

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};

struct FullRow {
  uint64_t pc;
  tail2_unwind_row row;
};

// Appends the rows of every FDE of `cfi`, marking where each FDE's coverage ends. `*work` is what
// the section's lookups cost so far (kMaxWork bounds it).
void AddRows(Dwarf_CFI* cfi, const std::vector<FdeRange>& fdes, size_t maxRows, uint64_t* work, std::vector<FullRow>* rows,
             std::vector<FdeRange>* covered, UnwindTableStats* stats) {
  for (const FdeRange& fde : fdes) {
    uint64_t pc = fde.lo;
    bool exhausted = false;
    for (int n = 0; pc < fde.hi && n < kMaxRowsPerFde && rows->size() < maxRows; n++) {
      if (*work + fde.cost > kMaxWork) {
        exhausted = true;
        break;
      }
      *work += fde.cost;
      Dwarf_Frame* raw = nullptr;
      if (dwarf_cfi_addrframe(cfi, pc, &raw) != 0) break;
      std::unique_ptr<Dwarf_Frame, FreeDeleter> frame(raw);
      Dwarf_Addr start = 0;
      Dwarf_Addr end = 0;
      bool signal = false;
      if (dwarf_frame_info(frame.get(), &start, &end, &signal) < 0) break;
      const Classified c = Classify(frame.get(), signal);
      rows->push_back({pc, c.row});
      switch (c.why) {
        case NoRule::kNone: break;
        case NoRule::kCfa: stats->cfaExpression++; break;
        case NoRule::kRange: stats->cfaOutOfRange++; break;
        case NoRule::kReturnAddress: stats->returnAddress++; break;
        case NoRule::kFramePointer: stats->framePointer++; break;
      }
      if (end <= pc) break;
      pc = end;
    }
    if (pc > fde.lo) covered->push_back({fde.lo, std::min(pc, fde.hi)});
    if (exhausted) stats->workLimitedFdes++;
  }
}

// A minimal ELF image holding only `section`'s bytes as .eh_frame, at its address, for libdw's
// lookups: without an .eh_frame_hdr, libdw finds FDEs by reading the section in order, as
// ScanSection did. Its binary search table would send a lookup to whatever offset a hostile
// table names, an "FDE" no scan has checked.
class EhFrameImage {
 public:
  EhFrameImage(const GElf_Ehdr& original, const Section& section) {
    static const char kNames[] = "\0.eh_frame\0.shstrtab\0";
    const size_t dataSize = section.data->d_size;
    const size_t dataAt = sizeof(Elf64_Ehdr);
    const size_t namesAt = dataAt + dataSize;
    const size_t headersAt = (namesAt + sizeof kNames + 7) & ~static_cast<size_t>(7);
    bytes_.assign(headersAt + 3 * sizeof(Elf64_Shdr), '\0');
    Elf64_Ehdr ehdr{};
    memcpy(ehdr.e_ident, original.e_ident, EI_NIDENT);
    ehdr.e_type = ET_DYN;
    ehdr.e_machine = original.e_machine;  // libdw's default rules (the ABI's) come from it
    ehdr.e_version = EV_CURRENT;
    ehdr.e_ehsize = sizeof(Elf64_Ehdr);
    ehdr.e_shentsize = sizeof(Elf64_Shdr);
    ehdr.e_shoff = headersAt;
    ehdr.e_shnum = 3;
    ehdr.e_shstrndx = 2;
    memcpy(&bytes_[0], &ehdr, sizeof ehdr);
    memcpy(&bytes_[dataAt], section.data->d_buf, dataSize);
    memcpy(&bytes_[namesAt], kNames, sizeof kNames);
    Elf64_Shdr shdrs[3] = {};
    shdrs[1].sh_name = 1;
    shdrs[1].sh_type = SHT_PROGBITS;
    shdrs[1].sh_flags = SHF_ALLOC;
    shdrs[1].sh_addr = section.addr;
    shdrs[1].sh_offset = dataAt;
    shdrs[1].sh_size = dataSize;
    shdrs[1].sh_addralign = 8;
    shdrs[2].sh_name = 11;
    shdrs[2].sh_type = SHT_STRTAB;
    shdrs[2].sh_offset = namesAt;
    shdrs[2].sh_size = sizeof kNames;
    shdrs[2].sh_addralign = 1;
    memcpy(&bytes_[headersAt], shdrs, sizeof shdrs);
    elf_ = elf_memory(bytes_.data(), bytes_.size());
  }
  ~EhFrameImage() {
    if (elf_ != nullptr) elf_end(elf_);
  }
  EhFrameImage(const EhFrameImage&) = delete;
  EhFrameImage& operator=(const EhFrameImage&) = delete;
  Elf* elf() const { return elf_; }

 private:
  std::string bytes_;
  Elf* elf_ = nullptr;
};

bool SameRule(const tail2_unwind_row& a, const tail2_unwind_row& b) {
  return a.type == b.type && a.aux == b.aux && a.cfa_offset == b.cfa_offset;
}

}  // namespace

bool CompileUnwindTable(Elf* main, Elf* debug, size_t maxRows, UnwindTable* table, std::string* why) {
  std::vector<FullRow> rows;
  std::vector<FdeRange> covered;
  UnwindTableStats& stats = table->stats;
  auto refuse = [&](const std::string& reason) { stats.refused += (stats.refused.empty() ? "" : "; ") + reason; };
  std::string damaged;  // entries that could not be read: a file left with no rows is corrupt, not without CFI

  GElf_Ehdr ehdr;
  if (gelf_getehdr(main, &ehdr) == nullptr || ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
    *why = "not a 64-bit little-endian ELF file: tail2 unwinds x86-64 processes only";
    return false;
  }
  const Section ehFrame = FindSection(main, ".eh_frame");
  if (ehFrame.data != nullptr) {
    EhFrameImage image(ehdr, ehFrame);
    const Section copy = FindSection(image.elf(), ".eh_frame");
    Dwarf_CFI* eh = copy.data != nullptr ? dwarf_getcfi_elf(image.elf()) : nullptr;
    if (eh != nullptr) {
      const SectionScan scan = ScanSection(image.elf(), copy, true, maxRows);
      damaged += scan.damaged;
      if (!scan.refused.empty()) {
        refuse(scan.refused);
      } else {
        uint64_t work = 0;
        stats.fdes += scan.fdes.size();
        AddRows(eh, scan.fdes, maxRows, &work, &rows, &covered, &stats);
        stats.sources = "eh_frame";
      }
      dwarf_cfi_end(eh);
    }
  }
  // .debug_frame, in the file itself or its debug file, for what .eh_frame leaves out.
  Elf* withDebugFrame = FindSection(main, ".debug_frame").data != nullptr ? main : debug;
  const Section debugFrame = FindSection(withDebugFrame, ".debug_frame");
  if (debugFrame.data != nullptr) {
    std::unique_ptr<Dwarf, decltype(&dwarf_end)> dwarf(dwarf_begin_elf(withDebugFrame, DWARF_C_READ, nullptr), dwarf_end);
    Dwarf_CFI* cfi = dwarf ? dwarf_getcfi(dwarf.get()) : nullptr;
    if (cfi != nullptr) {
      const SectionScan scan = ScanSection(withDebugFrame, debugFrame, false, maxRows);
      damaged += (damaged.empty() || scan.damaged.empty() ? "" : "; ") + scan.damaged;
      if (!scan.refused.empty()) {
        refuse(scan.refused);
      } else {
        std::sort(covered.begin(), covered.end(), [](const FdeRange& a, const FdeRange& b) { return a.lo < b.lo; });
        std::vector<FdeRange> missing;
        for (const FdeRange& fde : scan.fdes) {
          auto at = std::upper_bound(covered.begin(), covered.end(), fde.lo, [](uint64_t pc, const FdeRange& r) { return pc < r.lo; });
          const bool inside = at != covered.begin() && std::prev(at)->hi > fde.lo;
          if (!inside) missing.push_back(fde);
        }
        uint64_t work = 0;
        stats.fdes += missing.size();
        AddRows(cfi, missing, maxRows, &work, &rows, &covered, &stats);
        stats.sources += stats.sources.empty() ? "debug_frame" : "+debug_frame";
      }
    }
  }
  if (rows.empty()) {
    if (stats.refused.empty() && !damaged.empty()) refuse(damaged);
    *why = stats.refused.empty() ? "no call-frame information (.eh_frame or .debug_frame)"
                                 : "call-frame information refused as corrupt: " + stats.refused;
    return false;
  }

  // Past each FDE's end, until the next one starts, nothing is known: a "no rule" row there. The
  // markers go first, so that where the next FDE starts right there, its own row wins below.
  std::vector<FullRow> all;
  all.reserve(rows.size() + covered.size());
  for (const FdeRange& range : covered) all.push_back({range.hi, {0, TAIL2_CFA_NONE, 0, 0}});
  all.insert(all.end(), rows.begin(), rows.end());
  rows.swap(all);
  std::stable_sort(rows.begin(), rows.end(), [](const FullRow& a, const FullRow& b) { return a.pc < b.pc; });
  table->base = rows.front().pc;
  table->rows.clear();
  for (size_t i = 0; i < rows.size(); i++) {
    // Several rows at one address (an FDE starting where another ended): the last one wins.
    if (i + 1 < rows.size() && rows[i + 1].pc == rows[i].pc) continue;
    const uint64_t offset = rows[i].pc - table->base;
    if (offset > UINT32_MAX) break;  // a file whose code spans more than 4 GiB: the rest stays unknown
    tail2_unwind_row row = rows[i].row;
    row.pc = static_cast<uint32_t>(offset);
    if (!table->rows.empty() && SameRule(table->rows.back(), row)) continue;
    table->rows.push_back(row);
  }
  for (const tail2_unwind_row& row : table->rows) {
    switch (row.type & 0xf) {
      case TAIL2_CFA_NONE: stats.noRuleRows++; break;
      case TAIL2_CFA_END: stats.endRows++; break;
      case TAIL2_CFA_SIGNAL: stats.signalRows++; break;
      case TAIL2_CFA_PLT: stats.pltRows++; break;
      default: break;
    }
  }
  stats.rows = table->rows.size();
  return true;
}
