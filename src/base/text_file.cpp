#include "base/text_file.hpp"

#include <fstream>
#include <sstream>

namespace ecash {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ecash
