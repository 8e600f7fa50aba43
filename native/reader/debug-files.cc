#include "debug-files.h"

#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "safe-open.h"
#include "unique-fd.h"

namespace {

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::vector<uint8_t> BuildIdOf(Elf* elf) {
  const void* bits = nullptr;
  const ssize_t len = dwelf_elf_gnu_build_id(elf, &bits);
  if (len <= 0 || bits == nullptr) return {};
  const uint8_t* p = static_cast<const uint8_t*>(bits);
  return std::vector<uint8_t>(p, p + len);
}

// The GNU debuglink checksum is zlib's CRC-32 over the whole file, streamed here.
bool Crc32Of(int fd, uint64_t size, uint32_t* crc) {
  std::vector<unsigned char> buf(1 << 20);
  uLong value = crc32(0L, Z_NULL, 0);
  uint64_t at = 0;
  while (at < size) {
    ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    value = crc32(value, buf.data(), static_cast<uInt>(n));
    at += static_cast<uint64_t>(n);
  }
  *crc = static_cast<uint32_t>(value);
  return true;
}

// Opens one candidate and checks it belongs to the binary: `wantId` (when not empty) must be its
// build ID; otherwise `crc` (when not 0) its checksum. Returns the open file, or invalid and
// records why in `search->refused` (unless it simply does not exist).
UniqueFd TryCandidate(DebugSearch* search, int root, const std::string& path, uint64_t resolve,
                      const std::vector<uint8_t>& wantId, uint32_t crc) {
  if (root < 0) return UniqueFd();
  struct stat st;
  Failure failure;
  UniqueFd fd = OpenRegularInRoot(root, path, resolve, &st, &failure);
  if (!fd.valid()) {
    if (failure.code != "ENOENT" && failure.code != "ENOTDIR") search->refused.push_back(failure);
    return UniqueFd();
  }
  if (static_cast<uint64_t>(st.st_size) > search->maxFileSize) {
    search->refused.push_back(CodeFailure(
        "ETOOBIG", path,
        "debug file of " + std::to_string(st.st_size) + " bytes is over the " +
            std::to_string(search->maxFileSize) + "-byte cap (symbols.max_debug_file_size)"));
    return UniqueFd();
  }
  // ELF_C_READ: the check reads headers and the build-ID note, never maps the file.
  ElfPtr elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    search->refused.push_back(CodeFailure("ENOTELF", path, "debug file candidate is not ELF"));
    return UniqueFd();
  }
  const std::vector<uint8_t> id = BuildIdOf(elf.get());
  bool belongs;
  if (!wantId.empty() && !id.empty()) {
    belongs = id == wantId;
  } else if (crc != 0) {
    uint32_t actual = 0;
    belongs = Crc32Of(fd.get(), static_cast<uint64_t>(st.st_size), &actual) && actual == crc;
  } else {
    belongs = wantId.empty();  // nothing to check against (an alt file found by name only)
  }
  if (!belongs) {
    search->refused.push_back(CodeFailure(
        "EMISMATCH", path, "debug file candidate's build ID or checksum is not the binary's"));
    return UniqueFd();
  }
  std::string altName;
  std::vector<uint8_t> altId;
  if (ReadAltLink(elf.get(), &altName, &altId)) {
    search->altName = altName;
    search->altBuildId = altId;
    search->altBaseDir = Dirname(path);
    search->altBaseRoot = root;
  }
  return fd;
}

std::string BuildIdPath(const std::string& dir, const std::vector<uint8_t>& id) {
  const std::string hex = HexBuildId(id);
  return Join(dir, ".build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug");
}

int Found(DebugSearch* search, UniqueFd fd, const std::string& shown, char** foundName) {
  search->debugFile = shown;
  *foundName = strdup(shown.c_str());
  return fd.release();
}

}  // namespace

std::string HexBuildId(const std::vector<uint8_t>& id) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : id) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0xf];
  }
  return hex;
}

bool ReadAltLink(Elf* elf, std::string* name, std::vector<uint8_t>* buildId) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* section = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (section == nullptr || strcmp(section, ".gnu_debugaltlink") != 0) continue;
    if (shdr.sh_size > 8192) return false;  // a name and an ID; anything larger is not one
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) return false;
    const char* bytes = static_cast<const char*>(data->d_buf);
    const size_t len = strnlen(bytes, data->d_size);
    if (len == 0 || len >= data->d_size) return false;
    name->assign(bytes, len);
    buildId->assign(reinterpret_cast<const uint8_t*>(bytes) + len + 1,
                    reinterpret_cast<const uint8_t*>(bytes) + data->d_size);
    return !buildId->empty();
  }
  return false;
}

int FindDebugFile(DebugSearch* search, const char* debuglinkName, uint32_t debuglinkCrc,
                  char** foundName) {
  const bool isAlt = debuglinkCrc == 0 && debuglinkName != nullptr && !search->altName.empty() &&
                     search->altName == debuglinkName;
  const std::vector<uint8_t>& wantId = isAlt ? search->altBuildId : search->buildId;
  const uint64_t hostResolve = kResolveInRoot;  // debug directories: links inside them are fine

  // 1. By build ID: the configured directories, then the process's own /usr/lib/debug.
  if (!wantId.empty()) {
    for (const std::string& dir : search->debugDirectories) {
      const std::string path = BuildIdPath(dir, wantId);
      UniqueFd fd = TryCandidate(search, search->hostRoot, path, hostResolve, wantId, 0);
      if (fd.valid()) return Found(search, std::move(fd), path, foundName);
    }
    if (search->processRoot >= 0) {
      const std::string path = BuildIdPath("/usr/lib/debug", wantId);
      UniqueFd fd = TryCandidate(search, search->processRoot, path, kResolveInRoot, wantId, 0);
      if (fd.valid()) return Found(search, std::move(fd), path, foundName);
    }
  }
  if (debuglinkName == nullptr || debuglinkName[0] == '\0') return -1;

  if (isAlt) {
    // 2a. The alt file by the name the debug file gives: absolute (in its root) or beside it.
    const std::string name = debuglinkName;
    const std::string path = name[0] == '/' ? name : Join(search->altBaseDir, name);
    UniqueFd fd = TryCandidate(search, search->altBaseRoot, path, kResolveInRoot, wantId, 0);
    if (fd.valid()) return Found(search, std::move(fd), path, foundName);
    return -1;
  }

  // 2b. By .gnu_debuglink: a file name, never a path (a '/' in it is not a debuglink).
  const std::string name = debuglinkName;
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    search->refused.push_back(
        CodeFailure("EMISMATCH", search->binaryPath, ".gnu_debuglink names a path, not a file"));
    return -1;
  }
  const std::string dir = Dirname(search->binaryPath);
  const size_t slash = search->binaryPath.rfind('/');
  const std::string own = slash == std::string::npos ? search->binaryPath : search->binaryPath.substr(slash + 1);
  std::vector<std::pair<int, std::string>> candidates;
  if (name != own) candidates.emplace_back(search->processRoot, Join(dir, name));
  candidates.emplace_back(search->processRoot, Join(dir, ".debug/" + name));
  for (const std::string& debugDir : search->debugDirectories) {
    candidates.emplace_back(search->hostRoot, Join(debugDir, dir.substr(1) + "/" + name));
  }
  for (const auto& [root, path] : candidates) {
    UniqueFd fd = TryCandidate(search, root, path, kResolveInRoot, search->buildId, debuglinkCrc);
    if (fd.valid()) return Found(search, std::move(fd), path, foundName);
  }
  return -1;
}
