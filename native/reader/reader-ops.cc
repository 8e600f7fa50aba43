#include "reader-ops.h"

#include <fcntl.h>
#include <unistd.h>

#include <elfutils/libdwelf.h>
#include <libelf.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include <memory>
#include <new>
#include <unordered_map>

#include "debug-files.h"
#include "demangle.h"
#include "ifunc-targets.h"
#include "perf-map.h"
#include "proc-snapshot.h"
#include "safe-open.h"
#include "sigbus-guard.h"
#include "unwind-table.h"
#include "vdso.h"

using nlohmann::json;

namespace {

// A request that cannot be answered; becomes the `error` of the answer.
struct RequestError {
  Failure failure;
};

[[noreturn]] void Fail(const Failure& failure) { throw RequestError{failure}; }

json FailureJson(const Failure& f) {
  json error = {{"code", f.code}, {"message", f.message}};
  if (f.err != 0) {
    error["errno"] = -f.err;  // negative, as Node's own fs errors
    error["syscall"] = f.syscall;
  }
  return error;
}

ProcessRef ProcessOf(const json& request) {
  ProcessRef ref;
  const json& process = request.at("process");
  ref.pid = process.at("pid").get<int>();
  ref.startTicks = process.value("start_ticks", static_cast<uint64_t>(0));
  ref.sharesRoot = process.value("shares_root", false);
  return ref;
}

MappedFile FileOf(const json& request) {
  const json& file = request.at("file");
  MappedFile mapped;
  mapped.path = file.at("path").get<std::string>();
  mapped.devMajor = file.at("dev_major").get<uint32_t>();
  mapped.devMinor = file.at("dev_minor").get<uint32_t>();
  mapped.inode = file.at("inode").get<uint64_t>();
  mapped.start = file.value("start", static_cast<uint64_t>(0));
  mapped.end = file.value("end", static_cast<uint64_t>(0));
  if (mapped.path.empty() || mapped.path[0] != '/') {
    Fail(CodeFailure("EBADREQ", mapped.path, "a mapped file's path must be absolute"));
  }
  return mapped;
}

json SnapshotJson(const ProcessSnapshot& s) {
  json mappings = json::array();
  for (const ExecutableMapping& m : s.mappings) {
    mappings.push_back({m.start, m.end, m.offset, m.devMajor, m.devMinor, m.inode, m.path});
  }
  return {{"cmdline", s.cmdline},          {"cmdline_truncated", s.cmdlineTruncated},
          {"mappings", mappings},          {"mappings_truncated", s.mappingsTruncated},
          {"namespace_pid", s.namespacePid}, {"uid", s.uid},
          {"euid", s.euid},                {"shares_root", s.sharesRoot}};
}

// Interns strings of an answer: names and file names repeat across frames.
class StringTable {
 public:
  int Add(const std::string& s) {
    auto found = index_.find(s);
    if (found != index_.end()) return found->second;
    const int id = static_cast<int>(strings_.size());
    strings_.push_back(s);
    index_.emplace(s, id);
    return id;
  }
  json Json() const { return strings_; }

 private:
  std::vector<std::string> strings_;
  std::unordered_map<std::string, int> index_;
};

std::string Base64(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// Writes `bytes` to `path` whole or not at all (a temporary file renamed over it).
bool WriteFileAtomically(const std::string& path, const std::string& bytes, Failure* failure) {
  if (path.empty() || path[0] != '/') {
    *failure = CodeFailure("EBADREQ", path, "an output path must be absolute");
    return false;
  }
  const std::string tmp = path + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    *failure = SysFailure("open", tmp, errno);
    return false;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *failure = SysFailure("write", tmp, errno);
      unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *failure = SysFailure("rename", path, errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

// Rows a request may have compiled at most (`max_rows`): a hostile file's CFI bounds the work.
size_t MaxRows(const json& request) { return request.value("max_rows", static_cast<size_t>(4) << 20); }

// The answer of `unwind_table` and `vdso_unwind_table`: the table's figures, and its rows inline
// (base64) or written to the request's `out_path`.
json UnwindTableJson(const json& request, const UnwindTable& table, const std::vector<Segment>& segments,
                     const std::string& buildId) {
  json segmentsJson = json::array();
  for (const Segment& seg : segments) segmentsJson.push_back({seg.offset, seg.vaddr, seg.filesz});
  const UnwindTableStats& st = table.stats;
  json result = {{"base", table.base},
                 {"rows", table.rows.size()},
                 {"segments", segmentsJson},
                 {"build_id", buildId},
                 {"stats",
                  {{"fdes", st.fdes}, {"no_rule_rows", st.noRuleRows}, {"cfa_expression", st.cfaExpression},
                   {"out_of_range", st.cfaOutOfRange}, {"return_address", st.returnAddress}, {"frame_pointer", st.framePointer},
                   {"end_rows", st.endRows}, {"signal_rows", st.signalRows}, {"plt_rows", st.pltRows},
                   {"work_limited_fdes", st.workLimitedFdes}, {"sources", st.sources}, {"refused", st.refused}}}};
  const std::string bytes(reinterpret_cast<const char*>(table.rows.data()), table.rows.size() * sizeof(tail2_unwind_row));
  if (request.contains("out_path")) {
    Failure failure;
    if (!WriteFileAtomically(request.at("out_path").get<std::string>(), bytes, &failure)) Fail(failure);
    result["path"] = request.at("out_path");
  } else {
    result["rows_base64"] = Base64(bytes);
  }
  return result;
}

// The GNU build ID of a mapped file (lower-case hex, empty without one), read from its notes
// alone: what the daemon needs to find a table it already has, without opening DWARF.
std::string BuildIdOf(const ReaderConfig& config, const ProcessRef& process, const MappedFile& file) {
  Failure failure;
  struct stat st;
  UniqueFd fd = OpenMappedFile(process, file, &st, &failure);
  if (!fd.valid()) Fail(failure);
  if (static_cast<uint64_t>(st.st_size) > config.maxFileSize) {
    Fail(CodeFailure("ETOOBIG", file.path, "is " + std::to_string(st.st_size) + " bytes, over the " +
                                                std::to_string(config.maxFileSize) + "-byte cap (symbols.max_debug_file_size)"));
  }
  std::unique_ptr<Elf, decltype(&elf_end)> elf(elf_begin(fd.get(), ELF_C_READ, nullptr), elf_end);
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) Fail(CodeFailure("ENOTELF", file.path, "not an ELF file"));
  const void* bits = nullptr;
  const ssize_t len = dwelf_elf_gnu_build_id(elf.get(), &bits);
  if (len <= 0 || bits == nullptr) return "";
  const uint8_t* p = static_cast<const uint8_t*>(bits);
  return HexBuildId(std::vector<uint8_t>(p, p + len));
}

// The code the process runs for each function of `names` in the mapped file: an IFUNC's choice,
// read from the process's GOT (ifunc-targets.h), or the function's own offset when it is not an
// IFUNC. The file offsets (where a uprobe goes), and which of them were IFUNCs.
json ResolvedFunctionsJson(const json& request, Module* module) {
  const std::vector<std::string> names = request.at("names").get<std::vector<std::string>>();
  std::map<std::string, uint64_t> offsets = module->FunctionOffsets(names);
  const std::map<std::string, std::vector<uint64_t>> slots = module->IfuncSlots(names);
  json ifuncs = json::array();
  if (!slots.empty()) {
    Failure failure;
    UniqueFd dir = OpenProcessDir(ProcessOf(request), &failure);
    if (!dir.valid()) Fail(failure);
    // The process's memory, through its /proc directory: a pid reused meanwhile cannot stand in.
    UniqueFd mem(openat(dir.get(), "mem", O_RDONLY | O_CLOEXEC));
    if (!mem.valid()) Fail(SysFailure("open", "/proc/" + std::to_string(ProcessOf(request).pid) + "/mem", errno));
    const MappedFile file = FileOf(request);
    const MappedImage image{mem.get(), file.start, request.at("mapping_offset").get<uint64_t>(), &module->Segments()};
    std::map<std::string, uint64_t> resolved;
    if (!ResolveIfuncs(image, slots, &resolved, &failure)) Fail(failure);
    for (const auto& [name, offset] : resolved) {
      offsets[name] = offset;
      ifuncs.push_back(name);
    }
  }
  return {{"offsets", offsets}, {"ifuncs", ifuncs}};
}

}  // namespace

std::string ReaderOps::Handle(const std::string& text) {
  json answer;
  try {
    const json request = json::parse(text);
    answer["id"] = request.at("id");
    const std::string op = request.at("op").get<std::string>();
    Failure failure;
    if (op == "snapshot") {
      SnapshotLimits limits;
      limits.maxCmdlineBytes = request.value("max_cmdline_bytes", limits.maxCmdlineBytes);
      limits.maxMapsBytes = request.value("max_maps_bytes", limits.maxMapsBytes);
      ProcessSnapshot snapshot;
      if (!ReadProcessSnapshot(ProcessOf(request), limits, &snapshot, &failure)) Fail(failure);
      answer["result"] = SnapshotJson(snapshot);
    } else if (op == "cmdline") {
      std::string cmdline;
      bool truncated = false;
      if (!ReadProcessCommandLine(ProcessOf(request), request.value("max_cmdline_bytes", static_cast<size_t>(4096)),
                                  &cmdline, &truncated, &failure)) {
        Fail(failure);
      }
      answer["result"] = {{"cmdline", cmdline}, {"cmdline_truncated", truncated}};
    } else if (op == "symbolize" || op == "module_info" || op == "unwind_table" || op == "function_offsets" ||
               op == "resolved_functions") {
      const std::string key = request.at("key").get<std::string>();
      Module* module = cache_.Find(key);
      json refusedJson = json::array();
      if (module == nullptr) {
        const ProcessRef process = ProcessOf(request);
        const MappedFile file = FileOf(request);
        struct stat st;
        UniqueFd fd = OpenMappedFile(process, file, &st, &failure);
        if (!fd.valid()) Fail(failure);
        Failure ignored;
        UniqueFd processRoot = OpenProcessRoot(process, &ignored);
        UniqueFd hostRoot = OpenHostRoot(&ignored);
        std::vector<Failure> refused;
        std::unique_ptr<Module> opened = Module::Open(config_, std::move(fd), st, file.path,
                                                      processRoot.get(), hostRoot.get(),
                                                      &failure, &refused);
        for (const Failure& f : refused) refusedJson.push_back(FailureJson(f));
        if (!opened) Fail(failure);
        module = cache_.Insert(key, std::move(opened));
      }
      json result;
      if (op == "symbolize") {
        std::vector<uint64_t> offsets = request.at("offsets").get<std::vector<uint64_t>>();
        StringTable strings;
        json stacks = json::array();
        for (const Stack& stack : module->Symbolize(offsets)) {
          json frames = json::array();
          for (const Frame& f : stack) {
            frames.push_back({strings.Add(f.name), f.file.empty() ? -1 : strings.Add(f.file),
                              f.line, f.inlined ? 1 : 0});
          }
          stacks.push_back(std::move(frames));
        }
        result = {{"stacks", std::move(stacks)}, {"strings", strings.Json()}};
      } else if (op == "function_offsets") {
        result = {{"offsets", module->FunctionOffsets(request.at("names").get<std::vector<std::string>>())}};
      } else if (op == "resolved_functions") {
        result = ResolvedFunctionsJson(request, module);
      } else if (op == "unwind_table") {
        UnwindTable table;
        std::string why;
        if (!module->UnwindTable(MaxRows(request), &table, &why)) {
          Fail(CodeFailure(table.stats.refused.empty() ? "ENOCFI" : "EBADCFI", request.at("file").at("path").get<std::string>(), why));
        }
        result = UnwindTableJson(request, table, module->Segments(), module->Facts().buildId);
      } else {
        const ModuleFacts& facts = module->Facts();
        result = {{"build_id", facts.buildId},
                  {"has_symbols", facts.hasSymbols},
                  {"has_dwarf", facts.hasDwarf},
                  {"debug_file", facts.debugFile}};
      }
      result["refused"] = std::move(refusedJson);
      answer["result"] = std::move(result);
      cache_.Trim();
    } else if (op == "build_id") {
      // A module already open knows it; otherwise only the notes are read.
      const Module* module = cache_.Find(request.at("key").get<std::string>());
      const std::string buildId = module != nullptr ? module->Facts().buildId : BuildIdOf(config_, ProcessOf(request), FileOf(request));
      answer["result"] = {{"build_id", buildId}};
    } else if (op == "vdso_unwind_table") {
      VdsoTable vdso;
      if (!CompileVdsoUnwindTable(MaxRows(request), &vdso, &failure)) Fail(failure);
      json result = UnwindTableJson(request, vdso.table, vdso.segments, vdso.buildId);
      result["image_bytes"] = vdso.imageBytes;
      result["image_hash"] = vdso.imageHash;
      answer["result"] = std::move(result);
    } else if (op == "perf_map") {
      PerfMapRequest perf;
      perf.process = ProcessOf(request);
      perf.namespacePid = request.at("namespace_pid").get<int>();
      perf.uid = request.value("uid", static_cast<int64_t>(-1));
      perf.euid = request.value("euid", static_cast<int64_t>(-1));
      perf.addresses = request.at("addresses").get<std::vector<uint64_t>>();
      perf.maxBytes = request.value("max_bytes", perf.maxBytes);
      PerfMapResult result;
      if (!ReadPerfMap(perf, &result, &failure)) Fail(failure);
      answer["result"] = {{"names", result.names},
                          {"name_of_address", result.nameOfAddress},
                          {"bytes_read", result.bytesRead},
                          {"truncated", result.truncated},
                          {"long_lines", result.longLines}};
    } else if (op == "demangle") {
      json names = json::array();
      for (const std::string& name : request.at("names").get<std::vector<std::string>>()) {
        names.push_back(Demangle(name.c_str()));
      }
      answer["result"] = {{"names", names}};
    } else if (op == "clear") {
      cache_.Clear();
      answer["result"] = json::object();
    } else if (op == "stats") {
      answer["result"] = {{"modules", cache_.size()}, {"heap_bytes", ModuleCache::HeapBytes()}};
    } else {
      Fail(CodeFailure("EBADREQ", op, "unknown request"));
    }
  } catch (const RequestError& e) {
    answer["error"] = FailureJson(e.failure);
  } catch (const json::exception& e) {
    answer["error"] = FailureJson(CodeFailure("EBADREQ", "request", e.what()));
  } catch (const std::bad_alloc&) {
    cache_.Clear();
    answer["error"] = FailureJson(CodeFailure(
        "ENOMEM", "request", "the reader ran out of its memory budget (symbols.max_memory)"));
  }
  if (TakeSigbusFault()) {
    // What was read from the shrunken file may be zeros: nothing open can be trusted.
    cache_.Clear();
    answer.erase("result");
    answer["faulted"] = true;
    answer["error"] = FailureJson(CodeFailure(
        "ECHANGED", "file", "a file shrank while it was being read (SIGBUS absorbed)"));
  }
  if (!answer.contains("id")) answer["id"] = nullptr;
  return answer.dump(-1, ' ', false, json::error_handler_t::replace);
}
