// Blocks every signal for the calling thread while alive; the ones that arrive stay pending and
// are delivered when it ends. The BPF verifier gives up with EAGAIN when a signal is pending, and a
// profiler's SIGPROF (every millisecond under `node --cpu-prof`) can make every load attempt fail.
#pragma once
#include <pthread.h>
#include <signal.h>

class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t all;
    sigfillset(&all);
    held_ = pthread_sigmask(SIG_BLOCK, &all, &previous_) == 0;
  }
  ~SignalsHeld() {
    if (held_) pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;

 private:
  sigset_t previous_;
  bool held_ = false;
};
