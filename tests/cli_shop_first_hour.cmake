# CLI tests of issue 16 (shop_first_hour): registered here, included from tests/CMakeLists.txt.
