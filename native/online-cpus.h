// The CPUs the kernel has online, read from /sys/devices/system/cpu/online.
#pragma once
#include <vector>

// "0-3,5,7-8" -> {0,1,2,3,5,7,8}; empty when the file cannot be read or parsed.
std::vector<int> ReadOnlineCpus();
