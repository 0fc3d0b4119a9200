#include "crypto/secret_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "crypto/secret.hpp"

namespace ecash::crypto {
namespace {

constexpr std::string_view kSealedHeader = "ecash-sealed-v1";

// A key derived from a passphrase, kept for the process's life: Argon2id is slow on purpose, and
// one command opens several files (keys, data key) sealed under one salt.
struct Derived {
  Digest passphrase;  // BLAKE2b of the passphrase, to tell entries apart
  Bytes salt;
  unsigned long long ops = 0;
  std::size_t mem = 0;
  SecretBytes<crypto_aead_xchacha20poly1305_ietf_KEYBYTES> key;
};

struct State {
  std::mutex mutex;
  std::string given;
  std::optional<std::string> asked;
  PassphrasePrompt prompt;
  std::vector<std::unique_ptr<Derived>> derived;
};

State& state() {
  static State s;
  return s;
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// The key for passphrase under salt and limits, derived once. Called with the state locked.
Result<const Derived*> derive(std::string_view passphrase, ByteView salt, unsigned long long ops,
                              std::size_t mem) {
  ensure_sodium();
  const auto id = blake2b_256(as_bytes(passphrase));
  for (const auto& d : state().derived) {
    if (d->passphrase == id && d->ops == ops && d->mem == mem &&
        std::equal(d->salt.begin(), d->salt.end(), salt.begin(), salt.end())) {
      return d.get();
    }
  }
  // Bounded as this program writes them (a changed file could otherwise ask for hours or
  // gigabytes before its tag is found wrong).
  if (salt.size() != crypto_pwhash_SALTBYTES || ops < crypto_pwhash_OPSLIMIT_MIN ||
      ops > crypto_pwhash_OPSLIMIT_SENSITIVE || mem < crypto_pwhash_MEMLIMIT_MIN ||
      mem > crypto_pwhash_MEMLIMIT_SENSITIVE) {
    return fail(ErrorCode::malformed, "the sealed file's passphrase parameters are out of range");
  }
  auto d = std::make_unique<Derived>();
  d->passphrase = id;
  d->salt.assign(salt.begin(), salt.end());
  d->ops = ops;
  d->mem = mem;
  if (crypto_pwhash(d->key.data(), d->key.size(), passphrase.data(), passphrase.size(),
                    salt.data(), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return fail(ErrorCode::internal, "not enough memory to derive a key from the passphrase");
  }
  state().derived.push_back(std::move(d));
  return state().derived.back().get();
}

// A key for sealing a new file: the first one this passphrase was derived to in this process (so
// one command's files share a salt and a later command derives once), else a fresh salt.
Result<const Derived*> sealing_key(std::string_view passphrase) {
  const auto id = blake2b_256(as_bytes(passphrase));
  for (const auto& d : state().derived) {
    if (d->passphrase == id && d->ops == crypto_pwhash_OPSLIMIT_MODERATE &&
        d->mem == crypto_pwhash_MEMLIMIT_MODERATE) {
      return d.get();
    }
  }
  const auto salt = random_bytes(crypto_pwhash_SALTBYTES);
  return derive(passphrase, salt, crypto_pwhash_OPSLIMIT_MODERATE,
                crypto_pwhash_MEMLIMIT_MODERATE);
}

std::string seal_locked(std::string_view text, const Derived& key) {
  std::ostringstream params;
  params << "argon2id " << key.ops << " " << key.mem << " " << base64url_encode(key.salt);
  const std::string head = std::string(kSealedHeader) + "\n" + params.str() + "\n";
  const auto nonce = random_bytes(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  Bytes sealed(text.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      sealed.data(), &length, reinterpret_cast<const unsigned char*>(text.data()), text.size(),
      reinterpret_cast<const unsigned char*>(head.data()), head.size(), nullptr, nonce.data(),
      key.key.data());
  sealed.resize(length);
  return head + base64url_encode(nonce) + "\n" + base64url_encode(sealed) + "\n";
}

bool sealed_text(std::string_view text) {
  return text.substr(0, kSealedHeader.size() + 1) == std::string(kSealedHeader) + "\n";
}

Result<std::string> open_locked(std::string_view sealed, std::string_view passphrase) {
  std::istringstream in{std::string(sealed)};
  std::string header, algorithm, salt_text, nonce_text, box_text;
  unsigned long long ops = 0;
  std::size_t mem = 0;
  if (!(in >> header >> algorithm >> ops >> mem >> salt_text >> nonce_text >> box_text) ||
      header != kSealedHeader || algorithm != "argon2id") {
    return fail(ErrorCode::malformed, "not a sealed ecash file");
  }
  auto salt = base64url_decode(salt_text);
  auto nonce = base64url_decode(nonce_text);
  auto box = base64url_decode(box_text);
  if (!salt || !nonce || !box || nonce->size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      box->size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return fail(ErrorCode::malformed, "damaged sealed file");
  }
  auto key = derive(passphrase, *salt, ops, mem);
  if (!key) return std::unexpected(key.error());
  // The header and parameters as written are the associated data: changing them fails the tag.
  const std::string head = header + "\n" + algorithm + " " + std::to_string(ops) + " " +
                           std::to_string(mem) + " " + salt_text + "\n";
  std::string text(box->size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(text.data()), &length, nullptr, box->data(),
          box->size(), reinterpret_cast<const unsigned char*>(head.data()), head.size(),
          nonce->data(), (*key)->key.data()) != 0) {
    return fail(ErrorCode::bad_passphrase, "wrong passphrase (or the sealed file was changed)");
  }
  text.resize(length);
  return text;
}

void wipe_text(std::string& text) {
  wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
}

}  // namespace

void set_passphrase(std::string given, PassphrasePrompt prompt) {
  std::lock_guard lock(state().mutex);
  wipe_text(state().given);
  state().given = std::move(given);
  state().asked.reset();
  state().prompt = std::move(prompt);
}

Result<std::string> seal_with_passphrase(std::string_view text, std::string_view passphrase) {
  std::lock_guard lock(state().mutex);
  auto key = sealing_key(passphrase);
  if (!key) return std::unexpected(key.error());
  return seal_locked(text, **key);
}

Result<std::string> open_with_passphrase(std::string_view sealed, std::string_view passphrase) {
  std::lock_guard lock(state().mutex);
  return open_locked(sealed, passphrase);
}

Result<std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io_error,
                errno_text("cannot read", path));
  }
  if ((st.st_mode & 077) != 0) {
    return fail(ErrorCode::insecure_permissions, path + " may be read by others; chmod 600 it");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in && !in.eof()) return fail(ErrorCode::io_error, errno_text("cannot read", path));
  std::string text = bytes.str();
  if (!sealed_text(text)) return text;

  std::unique_lock lock(state().mutex);
  std::string passphrase;
  if (!state().given.empty()) {
    passphrase = state().given;
  } else if (state().asked) {
    passphrase = *state().asked;
  } else if (state().prompt) {
    const auto prompt = state().prompt;
    lock.unlock();  // a person answers at their pace; nothing of the state is held meanwhile
    auto answer = prompt(path);
    lock.lock();
    if (!answer) return std::unexpected(answer.error());
    passphrase = std::move(*answer);
  } else {
    return fail(ErrorCode::bad_passphrase,
                path + " is sealed with a passphrase: give it (--passphrase-file FILE, or "
                       "ECASH_PASSPHRASE, or type it on a terminal)");
  }
  auto opened = open_locked(text, passphrase);
  if (opened && state().given.empty()) state().asked = passphrase;
  wipe_text(passphrase);
  if (!opened) {
    return fail(opened.error().code, path + ": " + opened.error().message);
  }
  return opened;
}

Status write_secret_file(const std::string& path, std::string_view clear) {
  std::string text;
  {
    std::lock_guard lock(state().mutex);
    const std::string* passphrase = !state().given.empty() ? &state().given
                                    : state().asked        ? &*state().asked
                                                           : nullptr;
    if (passphrase != nullptr) {
      auto key = sealing_key(*passphrase);
      if (!key) return std::unexpected(key.error());
      text = seal_locked(clear, **key);
    } else {
      text = clear;
    }
  }
  // A temporary file with 0600 from its creation, synced, then linked into place: the file
  // appears whole or not at all, and an existing one is never replaced.
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    wipe_text(text);
    return fail(ErrorCode::io_error, errno_text("cannot create", tmp));
  }
  const bool written = ::fchmod(fd, 0600) == 0 &&
                       ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  wipe_text(text);
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return fail(ErrorCode::io_error, errno_text("cannot write", tmp));
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const bool exists = errno == EEXIST;
    ::unlink(tmp.c_str());
    if (exists) return fail(ErrorCode::conflict, "file already exists: " + path);
    return fail(ErrorCode::io_error, errno_text("cannot create", path));
  }
  ::unlink(tmp.c_str());
  return {};
}

bool is_sealed_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string first;
  std::getline(in, first);
  return first == kSealedHeader;
}

}  // namespace ecash::crypto
