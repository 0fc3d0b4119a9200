// A party's folder is for its owner alone: folders 0700, files 0600. New ones are made so (the
// binary runs with umask 077); an existing folder with a looser mode (made by an older version, or
// by hand) is put right when a command opens it, and the command says so.
// And where a command gets the passphrase that seals the party's key files and data keys
// (crypto/secret_file.hpp). Used once per command, from its one thread, before any party opens.
#pragma once

#include <string>

#include "base/error.hpp"

namespace ecash::app {

// Every folder and file under root (itself included) with group or other bits loses them; returns
// how many did, after saying so on stderr when any did. A missing root is left alone.
int make_private(const std::string& root);

// The option every command that opens a party takes ("--passphrase-file").
inline constexpr const char* kPassphraseFileHelp =
    "Read the passphrase that seals this party's keys from FILE (its first line; a systemd "
    "credential fits: $CREDENTIALS_DIRECTORY/NAME); else ECASH_PASSPHRASE, else asked on a "
    "terminal when needed";

// Sets the process's passphrase: from passphrase_file when given (not_found, io_error when it
// cannot be read), else the environment's ECASH_PASSPHRASE, else none. A command that creates a
// party (creating) asks for one on a terminal ("passphrase to seal the keys (empty for none)",
// twice; invalid_argument when the two differ); any other asks on the terminal when it meets a
// sealed file, and without a terminal such a file is refused with bad_passphrase.
Status use_passphrase(const std::string& passphrase_file, bool creating);

// One line typed on the controlling terminal without echo (a card's CVC); bad_passphrase when
// there is no terminal.
Result<std::string> ask_hidden(const std::string& question);

}  // namespace ecash::app
