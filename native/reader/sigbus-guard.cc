#include "sigbus-guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace {

volatile sig_atomic_t g_faults = 0;
uintptr_t g_pageMask = ~static_cast<uintptr_t>(4095);

void OnSigbus(int signo, siginfo_t* info, void*) {
  // Only "no such page behind this address" (a file shorter than its mapping) can be papered
  // over; anything else is a real bug and ends the process the default way.
  if (info->si_code == BUS_ADRERR) {
    void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(info->si_addr) & g_pageMask);
    if (mmap(page, ~g_pageMask + 1, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0) != MAP_FAILED) {
      g_faults = g_faults + 1;
      return;
    }
  }
  signal(signo, SIG_DFL);  // returning re-executes the access, which now ends the process
}

}  // namespace

void InstallSigbusGuard() {
  const long page = sysconf(_SC_PAGESIZE);
  if (page > 0) g_pageMask = ~static_cast<uintptr_t>(page - 1);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, nullptr);
}

bool TakeSigbusFault() {
  const bool faulted = g_faults != 0;
  g_faults = 0;
  return faulted;
}
