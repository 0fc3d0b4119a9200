// For tests of files and stores (it needs GoogleTest): each test gets a fresh folder, named after
// the process, its suite and itself, made before it runs and removed after. One per test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ecash {

class FolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "ecash-" + std::string(test->test_suite_name()) + "-" +
                       std::to_string(::getpid()) + "-" + test->name();
    for (auto& c : name) c = c == '/' ? '-' : c;  // a parameterized test's name holds slashes
    m_dir = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(m_dir);
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::filesystem::path m_dir;
};

}  // namespace ecash
