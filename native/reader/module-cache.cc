#include "module-cache.h"

#include <malloc.h>

Module* ModuleCache::Find(const std::string& key) {
  auto found = index_.find(key);
  if (found == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->second.get();
}

Module* ModuleCache::Insert(const std::string& key, std::unique_ptr<Module> module) {
  auto found = index_.find(key);
  if (found != index_.end()) {
    lru_.erase(found->second);
    index_.erase(found);
  }
  lru_.emplace_front(key, std::move(module));
  index_[key] = lru_.begin();
  return lru_.front().second.get();
}

void ModuleCache::Trim() {
  // The module just used (the front) stays: its answer is still being written.
  while (lru_.size() > 1 && (lru_.size() > maxModules_ || HeapBytes() > maxHeapBytes_)) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void ModuleCache::Clear() {
  index_.clear();
  lru_.clear();
}

size_t ModuleCache::HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}
