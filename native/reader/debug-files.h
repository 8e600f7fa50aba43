// Finding a binary's separate debug file (and a dwz "alt" file) the way distributions install
// them — by build ID under a debug directory, or by the .gnu_debuglink name next to the binary —
// without letting the binary's owner point the lookup anywhere else. elfutils' own lookup
// (dwfl_standard_find_debuginfo) opens candidates by path, blocking and following every link, so
// this replaces it as libdwfl's find_debuginfo callback:
//   - candidates next to the binary are resolved inside the process's root (safe-open.h);
//   - each must be a regular ELF file under the size cap, and prove it belongs to the binary:
//     the same build ID, or (without one) the CRC32 the debuglink names;
//   - what was refused, and why, is kept for the daemon to count.
#pragma once
#include <libelf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "failure.h"

struct DebugSearch {
  int processRoot = -1;  // the binary's root (its own directory is searched inside it)
  int hostRoot = -1;     // the daemon's root (the configured debug directories)
  std::string binaryPath;                    // as the process sees it
  std::vector<std::string> debugDirectories;  // absolute host paths, e.g. /usr/lib/debug
  uint64_t maxFileSize = 0;
  std::vector<uint8_t> buildId;  // the binary's, empty when it has none
  // A .gnu_debugaltlink (dwz) seen in the binary or its debug file: the alt file's name and ID.
  std::string altName;
  std::vector<uint8_t> altBuildId;
  std::string altBaseDir;  // directory of the file that named it, for a relative altName
  int altBaseRoot = -1;

  // Results, for moduleInfo and the daemon's problem counts.
  std::string debugFile;
  std::vector<Failure> refused;
};

// libdwfl's find_debuginfo: a descriptor of the debug (or alt) file, or -1. `*foundName` gets a
// malloc'd name for libdwfl to show and free.
int FindDebugFile(DebugSearch* search, const char* debuglinkName, uint32_t debuglinkCrc,
                  char** foundName);

// Reads a .gnu_debugaltlink section (name, then build ID) from an ELF handle, if it has one.
bool ReadAltLink(Elf* elf, std::string* name, std::vector<uint8_t>* buildId);

std::string HexBuildId(const std::vector<uint8_t>& id);
