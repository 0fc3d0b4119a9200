# CLI tests of issue 16 (wallet_first_hour): registered here, included from tests/CMakeLists.txt.
