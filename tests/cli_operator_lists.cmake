# CLI tests of issue 16 (operator_lists): registered here, included from tests/CMakeLists.txt.
