#include "reader-ops.h"

#include <nlohmann/json.hpp>

#include <new>
#include <unordered_map>

#include "demangle.h"
#include "perf-map.h"
#include "proc-snapshot.h"
#include "safe-open.h"
#include "sigbus-guard.h"

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
    } else if (op == "symbolize" || op == "module_info") {
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
