#include "probe-sets.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/types.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "allocation-probes.h"
// bpf/sampler.h needs the __u64 family from linux/types.h, included above.
#include "sampler.h"

int ProbeSets::Attach(const Key& key, const std::string& path, const ProbeFile& file, const std::vector<Program>& programs,
                      const std::map<std::string, std::vector<uint64_t>>& offsets, uint64_t cookieBits, uint32_t attachType,
                      const std::function<int(uint32_t slot)>& resetSlot, ProbeAttachError* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    *error = {err == ENOENT ? "ENOENT" : "EOPEN", "cannot open " + path + ": " + DescribeAttachError(err)};
    return -1;
  }
  struct stat st;
  const bool same = fstat(fd, &st) == 0 && major(st.st_dev) == file.devMajor && minor(st.st_dev) == file.devMinor &&
                    st.st_ino == static_cast<ino_t>(file.inode);
  if (!same) {
    close(fd);
    *error = {"EMISMATCH", path + " is no longer the file the offsets were read from"};
    return -1;
  }
  const std::string fdPath = "/proc/self/fd/" + std::to_string(fd);
  Detach(key);
  const int slot = FreeSlot();
  if (slot < 0) {
    close(fd);
    *error = {"ENOSPC", "at most " + std::to_string(maxSets_) + " probe sets are attached at once"};
    return -1;
  }
  const int resetErr = resetSlot(static_cast<uint32_t>(slot));
  if (resetErr != 0) {
    close(fd);
    *error = {"EMAP", "resetting the probes' call counters failed: " + std::string(strerror(resetErr))};
    return -1;
  }
  slots_[key] = slot;
  const uint64_t cookie = cookieBits | (static_cast<uint64_t>(slot) << TAIL2_PROBE_COOKIE_SLOT_SHIFT);
  std::vector<int>& links = links_[key];
  for (const Program& program : programs) {
    const auto at = offsets.find(program.name);
    if (at == offsets.end() || at->second.empty()) continue;
    const int link = AttachUprobeSession(program.fd, attachType, fdPath, at->second, cookie, key.second);
    if (link < 0) {
      close(fd);
      Detach(key);
      *error = {"EATTACH", "attaching the " + program.name + " probe to " + path + " failed: " + DescribeAttachError(-link)};
      return -1;
    }
    links.push_back(link);
  }
  close(fd);  // the links hold the file now
  return static_cast<int>(links.size());
}

void ProbeSets::Detach(const Key& key) {
  slots_.erase(key);
  const auto found = links_.find(key);
  if (found == links_.end()) return;
  for (int fd : found->second) close(fd);
  links_.erase(found);
}

int ProbeSets::Slot(const Key& key) const {
  const auto found = slots_.find(key);
  return found == slots_.end() ? -1 : found->second;
}

size_t ProbeSets::Count(const std::string& profile) const {
  size_t count = 0;
  for (const auto& [key, links] : links_)
    if (key.first == profile) count++;
  return count;
}

void ProbeSets::Clear() {
  for (auto& [key, fds] : links_)
    for (int fd : fds) close(fd);
  links_.clear();
  slots_.clear();
}

int ProbeSets::FreeSlot() const {
  std::vector<bool> used(maxSets_, false);
  for (const auto& [key, slot] : slots_) used[static_cast<size_t>(slot)] = true;
  for (size_t slot = 0; slot < used.size(); slot++)
    if (!used[slot]) return static_cast<int>(slot);
  return -1;
}

int SumPerCpuEntries(int mapFd, uint32_t first, uint32_t count, std::vector<uint64_t>* sums) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return -ncpus;
  std::vector<uint64_t> values(static_cast<size_t>(ncpus), 0);
  sums->assign(count, 0);
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t key = first + i;
    if (bpf_map_lookup_elem(mapFd, &key, values.data()) != 0) return errno;
    for (uint64_t v : values) (*sums)[i] += v;
  }
  return 0;
}

int ZeroPerCpuEntries(int mapFd, uint32_t first, uint32_t count) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return -ncpus;
  const std::vector<uint64_t> zeros(static_cast<size_t>(ncpus), 0);
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t key = first + i;
    if (bpf_map_update_elem(mapFd, &key, zeros.data(), BPF_ANY) != 0) return errno;
  }
  return 0;
}
