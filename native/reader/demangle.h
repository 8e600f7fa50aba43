// Demangling of the names symbols and DWARF carry, through libiberty's cplus_demangle.
#pragma once
#include <string>

// C++ (Itanium) and Rust (legacy and v0) names; anything else comes back unchanged.
std::string Demangle(const char* raw);
