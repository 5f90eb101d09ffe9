// SPDX-License-Identifier: Apache-2.0
//
// vfiopin-replay: runs scenario scripts on an IOMMU backend (docs: scenario-format.md).
//
//   vfiopin-replay [--backend mock|vfio] [--echo] [--check] [--invariants] [--kernel PROFILE]
//                  FILE...
//
// Order of work: the command line is checked (a usage error exits 2), every FILE is read
// and parsed (an unreadable or malformed file prints its message and exits 2 before
// anything runs), the backend is made (targets.hpp; exits 2 if it cannot be), and the
// scripts run in order with their outputs concatenated. Exit 0 when everything ran (and,
// with --check, matched), 1 on a --check mismatch, 2 as above or when the backend fails.
#include "targets.hpp"

#include <vfiopin/scenario/parser.hpp>
#include <vfiopin/scenario/runner.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view usage_text =
    "usage: vfiopin-replay [--backend mock|vfio] [--echo] [--check] [--invariants] "
    "[--kernel PROFILE] FILE...\n"
    "  --invariants  (mock) after each operation run the model's self-check "
    "(mock::check_invariants,\n"
    "                check_exclusive_process; fail-nth and teardown properties); each "
    "violation is\n"
    "                printed as FILE:LINE: invariant: TEXT and the exit status is 1\n";

struct command_line {
  std::string backend{vfiopin::replay::backend_names[0]};
  std::string kernel_profile;
  vfiopin::scenario::options run_options;
  std::vector<std::string> files;
  bool help = false;
};

/// Prints a usage error and gives the exit status for it.
int usage_error(const std::string& message) {
  std::cerr << "vfiopin-replay: " << message << '\n' << usage_text;
  return 2;
}

/// Parses argv; on a usage error prints it and returns its exit status.
std::optional<int> parse_command_line(int argc, char** argv, command_line& cl) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      cl.files.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
    } else if (arg == "-h" || arg == "--help") {
      cl.help = true;
    } else if (arg == "--echo") {
      cl.run_options.echo = true;
    } else if (arg == "--check") {
      cl.run_options.check = true;
    } else if (arg == "--invariants") {
      cl.run_options.invariants = true;
    } else if (arg == "--backend" || arg == "--kernel" || arg.starts_with("--backend=") ||
               arg.starts_with("--kernel=")) {
      const bool is_backend = arg.starts_with("--backend");
      const std::string_view option = is_backend ? "--backend" : "--kernel";
      std::string value;
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage_error("'" + std::string(option) + "' needs a value");
      }
      if (is_backend && !vfiopin::replay::is_backend_name(value)) {
        return usage_error("unknown backend '" + value + "' (expected mock or vfio)");
      }
      (is_backend ? cl.backend : cl.kernel_profile) = value;
    } else {
      return usage_error("unknown option '" + std::string(arg) + "'");
    }
  }
  if (!cl.help && cl.files.empty()) return usage_error("no scenario file given");
  if (cl.run_options.invariants && cl.backend != "mock") {
    return usage_error("'--invariants' needs the mock backend");
  }
  return std::nullopt;
}

/// The whole content of `path`, or nullopt with errno set.
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(content).str();
}

}  // namespace

int main(int argc, char** argv) {
  command_line cl;
  if (const auto status = parse_command_line(argc, argv, cl)) return *status;
  if (cl.help) {
    std::cout << usage_text;
    return 0;
  }

  std::vector<vfiopin::scenario::script> scripts;
  bool malformed = false;
  for (const std::string& file : cl.files) {
    errno = 0;
    const auto text = read_file(file);
    if (!text) {
      const int saved = errno;
      std::cerr << "vfiopin-replay: cannot read '" << file
                << "': " << (saved != 0 ? std::strerror(saved) : "read error") << '\n';
      return 2;
    }
    auto parsed = vfiopin::scenario::parse(*text, file);
    if (!parsed) {
      std::cerr << parsed.error().to_string() << '\n';
      malformed = true;
      continue;
    }
    scripts.push_back(std::move(parsed).value());
  }
  if (malformed) return 2;

  auto made = vfiopin::replay::make_target(cl.backend, cl.kernel_profile);
  if (!made.target) {
    std::cerr << "vfiopin-replay: " << made.error << '\n';
    return 2;
  }
  const auto status =
      vfiopin::scenario::run_all(scripts, *made.target, cl.run_options, std::cout, std::cerr);
  std::cout.flush();
  return vfiopin::scenario::exit_code(status);
}
