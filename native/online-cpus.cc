#include "online-cpus.h"

#include <fstream>
#include <sstream>
#include <string>

std::vector<int> ReadOnlineCpus() {
  std::vector<int> cpus;
  std::ifstream file("/sys/devices/system/cpu/online");
  std::string text;
  if (!std::getline(file, text)) return cpus;
  std::stringstream ranges(text);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    size_t dash = range.find('-');
    try {
      int first = std::stoi(range.substr(0, dash));
      int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
      for (int cpu = first; cpu <= last; cpu++) cpus.push_back(cpu);
    } catch (const std::exception&) {
      return {};
    }
  }
  return cpus;
}
