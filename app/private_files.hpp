// A party's folder is for its owner alone: folders 0700, files 0600. New ones are made so (the
// binary runs with umask 077); an existing folder with a looser mode (made by an older version, or
// by hand) is put right when a command opens it, and the command says so.
#pragma once

#include <string>

namespace ecash::app {

// Every folder and file under root (itself included) with group or other bits loses them; returns
// how many did, after saying so on stderr when any did. A missing root is left alone.
int make_private(const std::string& root);

}  // namespace ecash::app
