// The modules a reader has open, most recently used first, keyed by the daemon's cache key
// (device, inode and path: a replaced file is a new key). Bounded by a count and by the heap the
// reader uses: past half of its memory limit the least recently used modules are closed.
#pragma once
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "elf-module.h"

class ModuleCache {
 public:
  ModuleCache(size_t maxModules, size_t maxHeapBytes)
      : maxModules_(maxModules), maxHeapBytes_(maxHeapBytes) {}

  Module* Find(const std::string& key);
  Module* Insert(const std::string& key, std::unique_ptr<Module> module);
  // Closes modules, least recently used first, while over the count or the heap budget.
  void Trim();
  void Clear();
  size_t size() const { return lru_.size(); }

  // Bytes of heap in use (malloc's view), for the budget and for stats.
  static size_t HeapBytes();

 private:
  using Entry = std::pair<std::string, std::unique_ptr<Module>>;
  const size_t maxModules_;
  const size_t maxHeapBytes_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};
