// Fixed-size secret bytes that are wiped when they die. Move-only, so a secret has one owner.
// Not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ecash::crypto {

// Wipes memory in a way the compiler cannot optimise away (sodium_memzero).
void wipe(std::span<std::uint8_t> bytes);

template <std::size_t N>
class SecretBytes {
 public:
  SecretBytes() = default;
  ~SecretBytes() { wipe(m_bytes); }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : m_bytes(other.m_bytes) { wipe(other.m_bytes); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      m_bytes = other.m_bytes;
      wipe(other.m_bytes);
    }
    return *this;
  }

  std::uint8_t* data() { return m_bytes.data(); }
  const std::uint8_t* data() const { return m_bytes.data(); }
  static constexpr std::size_t size() { return N; }
  std::span<std::uint8_t, N> span() { return m_bytes; }
  std::span<const std::uint8_t, N> span() const { return m_bytes; }

 private:
  std::array<std::uint8_t, N> m_bytes{};
};

}  // namespace ecash::crypto
