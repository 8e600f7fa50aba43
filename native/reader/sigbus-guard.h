// A file that is truncated while it is mapped turns every read past its new end into SIGBUS,
// which would end the reader mid-request. libdwfl maps debug files itself, so the reader installs
// this guard: a SIGBUS for an address past a mapped file's end gets a zero page mapped over the
// faulting page and the read goes on, seeing zeros. The request that hit it is answered as
// "faulted" and every open module is dropped, since what they read may be garbage.
#pragma once

void InstallSigbusGuard();

// Whether a SIGBUS was absorbed since the last call (and resets it).
bool TakeSigbusFault();
