// Reading a small text file whole: a folder's address, a PEM, a process's log.
#pragma once

#include <string>

namespace ecash {

// A small text file's contents (empty when it cannot be read).
std::string read_text_file(const std::string& path);

}  // namespace ecash
