#pragma once
#include <napi.h>

// class TaskStats: the task iterator of bpf/task-stats.bpf.c, read once per metric round.
void InitTaskStats(Napi::Env env, Napi::Object exports);
