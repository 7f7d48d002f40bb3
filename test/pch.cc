// Anchor for the precompiled test headers (see test/CMakeLists.txt); holds no code.
