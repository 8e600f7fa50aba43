// Symbolizer: file offsets inside an ELF file -> function names (demangled), inlined frames and
// file:line, through elfutils' libdwfl. One Dwfl session per file (a Module, elf-module.h), kept
// in an LRU keyed by the caller's cache key; lookups run on the libuv pool (Napi::AsyncWorker) and
// settle a Promise.
//
// Ownership: workers hold a shared_ptr to the Module they use, so evicting or clearing the cache
// while a lookup runs only drops the cache's reference.
#include "symbolizer.h"

#include <libelf.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "demangle.h"
#include "elf-module.h"

namespace {

constexpr double kDefaultMaxModules = 64;
constexpr double kMaxMaxModules = 65536;

// ---------------------------------------------------------------------------------------------
// LRU of open modules, shared by a Symbolizer and its in-flight workers.

class ModuleCache {
 public:
  ModuleCache(std::shared_ptr<const Config> config, size_t maxModules)
      : config_(std::move(config)), maxModules_(maxModules) {}

  // The module for `key`, opening `path` on a miss; nullptr and `*failure` set on error.
  std::shared_ptr<Module> Acquire(const std::string& path, const std::string& key,
                                  Failure* failure) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto found = index_.find(key);
      if (found != index_.end()) {
        lru_.splice(lru_.begin(), lru_, found->second);
        return found->second->second;
      }
    }
    // Opened without the lock: a slow disk must not stall lookups in other modules.
    std::shared_ptr<Module> opened = Module::Open(config_, path, failure);
    if (!opened) return nullptr;
    std::list<Entry> evicted;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(mu_);
    auto found = index_.find(key);
    if (found != index_.end()) {  // another worker opened it meanwhile; ours is dropped
      lru_.splice(lru_.begin(), lru_, found->second);
      return found->second->second;
    }
    lru_.emplace_front(key, opened);
    index_[key] = lru_.begin();
    while (lru_.size() > maxModules_) {
      index_.erase(lru_.back().first);
      evicted.splice(evicted.begin(), lru_, std::prev(lru_.end()));
    }
    return opened;
  }

  void Clear() {
    std::list<Entry> dropped;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(mu_);
    index_.clear();
    dropped.swap(lru_);
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<Module>>;
  std::shared_ptr<const Config> config_;
  const size_t maxModules_;
  std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// ---------------------------------------------------------------------------------------------
// JS glue

Napi::Error JsError(Napi::Env env, const Failure& f, const std::string& path) {
  Napi::Error error = Napi::Error::New(env, f.message);
  error.Set("code", Napi::String::New(env, f.code));
  error.Set("path", Napi::String::New(env, path));
  if (f.err != 0) {
    error.Set("errno", Napi::Number::New(env, -f.err));  // negative, as Node's own fs errors
    error.Set("syscall", Napi::String::New(env, f.syscall));
  }
  return error;
}

[[noreturn]] void ThrowArg(Napi::Env env, const std::string& message, bool range = false) {
  Napi::Error error = range ? Napi::RangeError::New(env, message)
                            : static_cast<Napi::Error>(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE"));
  throw error;
}

// Opens (or finds) the module on the libuv pool, then runs the subclass's work on it.
class ModuleWorker : public Napi::AsyncWorker {
 public:
  ModuleWorker(Napi::Env env, const char* name, std::shared_ptr<ModuleCache> cache,
               std::string path, std::string key)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        cache_(std::move(cache)),
        path_(std::move(path)),
        key_(std::move(key)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  virtual void Run(Module* module) = 0;

  void Execute() override {
    std::shared_ptr<Module> module = cache_->Acquire(path_, key_, &failure_);
    if (!module) {
      SetError(failure_.message);
      return;
    }
    Run(module.get());
  }

  void OnError(const Napi::Error& error) override {
    if (failure_.code.empty()) {  // an exception from Execute, e.g. std::bad_alloc
      deferred_.Reject(error.Value());
      return;
    }
    deferred_.Reject(JsError(Env(), failure_, path_).Value());
  }

  Napi::Promise::Deferred deferred_;

 private:
  std::shared_ptr<ModuleCache> cache_;
  std::string path_;
  std::string key_;
  Failure failure_;
};

class SymbolizeWorker final : public ModuleWorker {
 public:
  SymbolizeWorker(Napi::Env env, std::shared_ptr<ModuleCache> cache, std::string path,
                  std::string key, std::vector<uint64_t>&& offsets)
      : ModuleWorker(env, "tail2:symbolize", std::move(cache), std::move(path), std::move(key)),
        offsets_(std::move(offsets)) {}

 protected:
  void Run(Module* module) override { stacks_ = module->Symbolize(offsets_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array result = Napi::Array::New(env, stacks_.size());
    for (size_t i = 0; i < stacks_.size(); i++) {
      const Stack& stack = stacks_[i];
      Napi::Array frames = Napi::Array::New(env, stack.size());
      for (size_t j = 0; j < stack.size(); j++) {
        const Frame& f = stack[j];
        Napi::Object frame = Napi::Object::New(env);
        frame.Set("name", Napi::String::New(env, f.name));
        if (!f.file.empty()) frame.Set("file", Napi::String::New(env, f.file));
        if (f.line > 0) frame.Set("line", Napi::Number::New(env, f.line));
        frame.Set("inlined", Napi::Boolean::New(env, f.inlined));
        frames.Set(static_cast<uint32_t>(j), frame);
      }
      result.Set(static_cast<uint32_t>(i), frames);
    }
    deferred_.Resolve(result);
  }

 private:
  std::vector<uint64_t> offsets_;
  std::vector<Stack> stacks_;
};

class ModuleInfoWorker final : public ModuleWorker {
 public:
  ModuleInfoWorker(Napi::Env env, std::shared_ptr<ModuleCache> cache, std::string path,
                   std::string key)
      : ModuleWorker(env, "tail2:moduleInfo", std::move(cache), std::move(path), std::move(key)) {}

 protected:
  void Run(Module* module) override { facts_ = module->Facts(); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object info = Napi::Object::New(env);
    if (!facts_.buildId.empty()) info.Set("buildId", Napi::String::New(env, facts_.buildId));
    info.Set("hasSymbols", Napi::Boolean::New(env, facts_.hasSymbols));
    info.Set("hasDwarf", Napi::Boolean::New(env, facts_.hasDwarf));
    if (!facts_.debugFile.empty()) info.Set("debugFile", Napi::String::New(env, facts_.debugFile));
    deferred_.Resolve(info);
  }

 private:
  ModuleFacts facts_;
};

class SymbolizerWrap : public Napi::ObjectWrap<SymbolizerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Symbolizer",
                       {
                           InstanceMethod<&SymbolizerWrap::Symbolize>("symbolize"),
                           InstanceMethod<&SymbolizerWrap::ModuleInfo>("moduleInfo"),
                           InstanceMethod<&SymbolizerWrap::Clear>("clear"),
                           InstanceAccessor<&SymbolizerWrap::Size>("size"),
                       });
  }

  // new Symbolizer({ maxModules?: number, debugDirectories?: string[] })
  explicit SymbolizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SymbolizerWrap>(info) {
    Napi::Env env = info.Env();
    double maxModules = kDefaultMaxModules;
    std::string debuginfoPath;  // empty: libdwfl's default
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsObject()) ThrowArg(env, "Symbolizer options must be an object");
      Napi::Object options = info[0].As<Napi::Object>();
      Napi::Value max = options.Get("maxModules");
      if (!max.IsUndefined()) {
        if (!max.IsNumber()) ThrowArg(env, "options.maxModules must be a number");
        maxModules = max.As<Napi::Number>().DoubleValue();
        if (!(maxModules >= 1 && maxModules <= kMaxMaxModules) ||
            maxModules != static_cast<double>(static_cast<int64_t>(maxModules))) {
          ThrowArg(env, "options.maxModules must be an integer from 1 to 65536", true);
        }
      }
      Napi::Value dirs = options.Get("debugDirectories");
      if (!dirs.IsUndefined()) {
        if (!dirs.IsArray()) ThrowArg(env, "options.debugDirectories must be an array of paths");
        // ":.debug" keeps the lookups next to the binary (.gnu_debuglink); the absolute
        // directories are roots for both .build-id/xx/yyyy.debug and debuglink names.
        debuginfoPath = ":.debug";
        Napi::Array list = dirs.As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) {
          Napi::Value dir = list.Get(i);
          std::string path = dir.IsString() ? dir.As<Napi::String>().Utf8Value() : "";
          if (path.empty() || path[0] != '/' || path.find(':') != std::string::npos) {
            ThrowArg(env, "options.debugDirectories[" + std::to_string(i) +
                              "] must be an absolute path without ':'");
          }
          debuginfoPath += ":" + path;
        }
      }
    }
    cache_ = std::make_shared<ModuleCache>(std::make_shared<Config>(std::move(debuginfoPath)),
                                           static_cast<size_t>(maxModules));
  }

 private:
  static std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
    if (info.Length() <= i || !info[i].IsString()) {
      ThrowArg(info.Env(), std::string(what) + " must be a string");
    }
    std::string value = info[i].As<Napi::String>().Utf8Value();
    if (value.empty()) ThrowArg(info.Env(), std::string(what) + " must not be empty");
    return value;
  }

  // symbolize(path, cacheKey, fileOffsets: BigUint64Array): Promise<Frame[][]>
  Napi::Value Symbolize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = StringArg(info, 0, "path");
    std::string key = StringArg(info, 1, "cacheKey");
    if (info.Length() < 3 || !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
      ThrowArg(env, "fileOffsets must be a BigUint64Array");
    }
    Napi::TypedArrayOf<uint64_t> array = info[2].As<Napi::TypedArrayOf<uint64_t>>();
    // Copied: the worker must not read JS memory off the JS thread.
    std::vector<uint64_t> offsets(array.Data(), array.Data() + array.ElementLength());
    auto* worker =
        new SymbolizeWorker(env, cache_, std::move(path), std::move(key), std::move(offsets));
    Napi::Promise promise = worker->Promise();
    worker->Queue();  // the worker deletes itself when done
    return promise;
  }

  // moduleInfo(path, cacheKey): Promise<{ buildId?, hasSymbols, hasDwarf, debugFile? }>
  Napi::Value ModuleInfo(const Napi::CallbackInfo& info) {
    std::string path = StringArg(info, 0, "path");
    std::string key = StringArg(info, 1, "cacheKey");
    auto* worker = new ModuleInfoWorker(info.Env(), cache_, std::move(path), std::move(key));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  void Clear(const Napi::CallbackInfo&) { cache_->Clear(); }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(cache_->Size()));
  }

  std::shared_ptr<ModuleCache> cache_;
};

// demangle(name: string): string — the demangling the symbolizer applies to symbol names.
Napi::Value DemangleJs(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) ThrowArg(info.Env(), "name must be a string");
  return Napi::String::New(info.Env(), Demangle(info[0].As<Napi::String>().Utf8Value().c_str()));
}

}  // namespace

void InitSymbolizer(Napi::Env env, Napi::Object exports) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    throw Napi::Error::New(env, std::string("libelf is too old for this addon: ") +
                                    elf_errmsg(-1) + "; rebuild tail2 against the installed "
                                    "libelf (npm run build)");
  }
  exports.Set("Symbolizer", SymbolizerWrap::Define(env));
  exports.Set("demangle", Napi::Function::New<DemangleJs>(env, "demangle"));
}
