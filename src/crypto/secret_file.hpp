// A party's secret files (its key file, its store's data key): written 0600, whole or not at all,
// never over an existing one; sealed with a passphrase when the process was given one (Argon2id
// through libsodium's crypto_pwhash, moderate limits, then XChaCha20-Poly1305 over the file's
// text). A file written without a passphrase stays readable as before.
//
// Which passphrase a process uses is one setting of the process, like its umask: the command line
// sets it once, before any party opens a file, and every party's files are read through it (the
// operator's roles, sandboxes, wallets and shops open their key files in many places, all below
// the command line). Thread-safe: the setting and the derived keys are guarded.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/error.hpp"

namespace ecash::crypto {

// Asked for the passphrase when a sealed file is met (path names it); its error is returned to
// whoever opened the file (bad_passphrase when there is no way to ask).
using PassphrasePrompt = std::function<Result<std::string>(const std::string& path)>;

// given: a passphrase known from the start (a file, the environment, init's prompt), which also
// seals every secret file this process writes; empty for none. prompt: asked when a sealed file is
// met and no passphrase was given (null: such a file is refused with bad_passphrase).
void set_passphrase(std::string given, PassphrasePrompt prompt);

// The file's text: as written, or opened with the passphrase when sealed. not_found, io_error,
// insecure_permissions (group or others may read it), bad_passphrase (a wrong passphrase, or none
// to be had), malformed (a damaged sealed file).
Result<std::string> read_secret_file(const std::string& path);
// conflict if path exists; io_error on failure.
Status write_secret_file(const std::string& path, std::string_view text);
// Whether path holds a sealed file (what a test or a message needs to know; false when unreadable).
bool is_sealed_file(const std::string& path);

// The sealing itself, for the above and its tests: the sealed file's text, and its opening.
Result<std::string> seal_with_passphrase(std::string_view text, std::string_view passphrase);
Result<std::string> open_with_passphrase(std::string_view sealed, std::string_view passphrase);

}  // namespace ecash::crypto
