// SPDX-License-Identifier: Apache-2.0
//
// A replay driver for fuzz targets built without libFuzzer (VFIOPIN_FUZZ_LINKMAIN=ON).
//
// It calls LLVMFuzzerTestOneInput once for every file named on the command line, walking
// directories recursively in sorted order, and then reports how many inputs ran. It works
// with any C++20 compiler, so every ordinary build (g++ included) compiles the fuzz targets
// and replays their committed corpora as tests. Arguments that start with '-' are libFuzzer
// flags and are ignored, so the same command line works against both kinds of build. Each
// input is copied into a buffer of exactly its size, so a sanitizer sees any over-read.
// Exit status: 0 when every path existed and could be read; 1 otherwise (a failing input
// does not return: it aborts or traps inside the target).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

namespace fs = std::filesystem;

bool run_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "standalone_main: cannot open %s\n", path.c_str());
    return false;
  }
  const std::vector<char> contents{std::istreambuf_iterator<char>(file),
                                   std::istreambuf_iterator<char>()};
  const auto size = contents.size();
  const auto buffer = std::make_unique<std::uint8_t[]>(size);
  std::copy(contents.begin(), contents.end(), reinterpret_cast<char*>(buffer.get()));
  LLVMFuzzerTestOneInput(buffer.get(), size);
  return true;
}

// Every regular file at or below `root`, sorted so runs are reproducible.
std::vector<fs::path> collect(const fs::path& root, std::error_code& error) {
  std::vector<fs::path> files;
  if (!fs::is_directory(root, error)) {
    if (!error && fs::exists(root, error)) {
      files.push_back(root);
    } else if (!error) {
      error = std::make_error_code(std::errc::no_such_file_or_directory);
    }
    return files;
  }
  for (fs::recursive_directory_iterator it(root, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) {
      files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) {
    LLVMFuzzerInitialize(&argc, &argv);
  }
  std::size_t ran = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg.front() == '-') {
      continue;
    }
    std::error_code error;
    const auto files = collect(arg, error);
    if (error) {
      std::fprintf(stderr, "standalone_main: %s: %s\n", arg.c_str(), error.message().c_str());
      ok = false;
      continue;
    }
    for (const auto& file : files) {
      if (run_file(file)) {
        ++ran;
      } else {
        ok = false;
      }
    }
  }
  std::printf("standalone_main: ran %zu input%s\n", ran, ran == 1 ? "" : "s");
  return ok ? 0 : 1;
}
