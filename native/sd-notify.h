// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, so tail2d can tell systemd it
// is READY, what it is doing (STATUS=), that it is alive (WATCHDOG=1) and that it is STOPPING.
#pragma once

#include <napi.h>

void InitSdNotify(Napi::Env env, Napi::Object exports);
