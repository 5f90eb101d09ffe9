// SPDX-License-Identifier: Apache-2.0
//
// fuzz_diff_kernel: the mock type1 model against the real kernel, in scenario space.
//
// Theory of operation. An input decodes (scenario_ops.hpp) to a scenario script; the
// project's parser must accept it (a refusal is a decoder bug and traps). The script runs
// on two scenario backends of tools/replay, each from a fresh state (target::reset), and
// the printed outcomes must be equal line for line:
//   - "mock": mock_target with the kernel profile of the running kernel (uname -r 6.1.x:
//     debian-6.1, 6.12.x: debian-6.12; VFIOPIN_DIFF_PROFILE=NAME overrides, e.g. to run
//     the newer profile against the 6.1 kernel);
//   - "kernel": vfio_target (real type1, the edu devices, the test mdev for emulated
//     devices, pin, unpin and vfio_dma_rw) when the test bed is there. It runs in a forked
//     child per input, so every input starts with a fresh mm: locked_vm, which a buggy
//     kernel can leave wrapped, RLIMIT_MEMLOCK and capabilities cannot leak from one input
//     into the next. The child sends its outcome lines back through a pipe.
// Where there is no test bed (no edu device bound to VFIO: the host), the second side is
// a second mock_target of the same profile, run in-process: the target then checks that
// the decoder only writes valid scripts, that the mock is deterministic, and (in the
// sanitizer builds) that nothing in the mock or the scenario machinery misbehaves, and the
// committed corpus replays on the host. VFIOPIN_DIFF_REQUIRE_KERNEL=1 makes the host
// fallback an error instead (the guest tests set it).
//
// A difference prints the script up to the first differing line as a .vfs, each line
// with the kernel's outcome as expectation and the differing line with the mock's too, on
// stderr, and traps. With VFIOPIN_TO_VFS=FILE nothing traps: the same .vfs (the whole
// script when the two sides agree) goes to FILE. That is the converter (fuzz/to-vfs).
#include "scenario_ops.hpp"

#include "../tools/replay/mock_target.hpp"
#include "../tools/replay/vfio_target.hpp"

#include <vfiopin/mock/profile.hpp>
#include <vfiopin/scenario/parser.hpp>
#include <vfiopin/scenario/runner.hpp>

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using namespace vfiopin;
namespace sc = vfiopin::scenario;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fuzz_diff_kernel: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

std::string kernel_release() {
  utsname u{};
  return ::uname(&u) == 0 ? std::string(u.release) : std::string("unknown");
}

/// The mock profile that models the running kernel (see the header comment).
std::string profile_name_for(const std::string& release) {
  if (const char* forced = std::getenv("VFIOPIN_DIFF_PROFILE"); forced != nullptr && *forced != 0) return forced;
  return release.starts_with("6.12.") ? "debian-6.12" : "debian-6.1";
}

/// One run's printed outcomes (one per statement) and whether the backend ran to the end.
struct outcomes {
  std::vector<std::string> lines;
  bool failed = false;
  std::string diag;
};

outcomes run_on(const sc::script& s, sc::target& t) {
  std::ostringstream out;
  std::ostringstream diag;
  const auto status = sc::run(s, t, sc::options{}, out, diag);
  outcomes o;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) o.lines.push_back(line);
  o.failed = status == sc::run_status::failed;
  o.diag = diag.str();
  return o;
}

/// Both sides, made once per process.
class sides {
 public:
  sides() : release_(kernel_release()), profile_name_(profile_name_for(release_)) {
    const auto p = mock::profile_by_name(profile_name_);
    if (!p) die("unknown VFIOPIN_DIFF_PROFILE '" + profile_name_ + "'");
    mock_ = std::make_unique<replay::mock_target>(*p);
    try {
      kernel_ = std::make_unique<replay::vfio_target>();
    } catch (const std::exception& e) {
      if (const char* req = std::getenv("VFIOPIN_DIFF_REQUIRE_KERNEL"); req != nullptr && *req == '1')
        die(std::string("no kernel side, and VFIOPIN_DIFF_REQUIRE_KERNEL=1: ") + e.what());
      std::fprintf(stderr,
                   "fuzz_diff_kernel: no test bed here (%s); comparing the mock (%s) with a second "
                   "mock instead of the kernel\n", e.what(), profile_name_.c_str());
      second_ = std::make_unique<replay::mock_target>(*p);
    }
  }

  [[nodiscard]] bool has_kernel() const noexcept { return kernel_ != nullptr; }
  [[nodiscard]] const std::string& profile_name() const noexcept { return profile_name_; }
  [[nodiscard]] std::string other_name() const {
    return has_kernel() ? "kernel " + release_ : "second mock (" + profile_name_ + ")";
  }
  [[nodiscard]] const std::string& release() const noexcept { return release_; }

  outcomes mock(const sc::script& s) { return run_on(s, *mock_); }
  outcomes other(const sc::script& s) { return has_kernel() ? in_child(s) : run_on(s, *second_); }

 private:
  /// The kernel side in a forked child (a fresh mm per input); outcome lines come back
  /// through a pipe, the last line being the run status.
  outcomes in_child(const sc::script& s) {
    int fds[2];
    if (::pipe(fds) != 0) die("pipe failed");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      ::close(fds[0]);
      const outcomes o = run_on(s, *kernel_);
      std::string text;
      for (const auto& l : o.lines) text += l + '\n';
      text += o.failed ? "FAILED " + o.diag : std::string("DONE\n");
      for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fds[1], text.data() + done, text.size() - done);
        if (n <= 0) ::_exit(3);
        done += static_cast<std::size_t>(n);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    outcomes o;
    std::istringstream in(text);
    bool done = false;
    for (std::string line; std::getline(in, line);) {
      if (line == "DONE") { done = true; break; }
      if (line.starts_with("FAILED ")) { o.failed = true; o.diag = line.substr(7); break; }
      o.lines.push_back(line);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || (!done && !o.failed)) {
      o.failed = true;
      o.diag += "the kernel side's process ended abnormally (status " + std::to_string(status) + ")";
    }
    return o;
  }

  std::string release_;
  std::string profile_name_;
  std::unique_ptr<replay::mock_target> mock_;
  std::unique_ptr<replay::vfio_target> kernel_;
  std::unique_ptr<replay::mock_target> second_;
};

/// The `# requires:` words of a script (scenarios/README.md).
std::string requirements(const sc::script& s) {
  bool g0 = false, g1 = false, dma = false, bar = false, huge = false, emu = false;
  for (const auto& st : s.statements) {
    std::visit([&](const auto& op) {
      using T = std::decay_t<decltype(op)>;
      if constexpr (std::is_same_v<T, sc::op_attach>) (op.group == 0 ? g0 : g1) = true;
      if constexpr (std::is_same_v<T, sc::op_dma_read> || std::is_same_v<T, sc::op_dma_write>) dma = true;
      if constexpr (std::is_same_v<T, sc::op_mem>) {
        bar |= op.kind == sc::mem_kind::bar;
        huge |= op.kind == sc::mem_kind::hugetlb;
      }
      if constexpr (std::is_same_v<T, sc::op_emulated>) emu = true;
    }, st.op);
  }
  std::string r;
  for (const auto& [on, word] : {std::pair{g0, "group0"}, {g1, "group1"}, {dma, "dma"}, {bar, "bar"},
                                  {huge, "hugetlb"}, {emu, "emulated"}})
    if (on) r += (r.empty() ? "" : ", ") + std::string(word);
  return r.empty() ? "nothing" : r;
}

/// The .vfs of a run: every statement up to `upto` (inclusive) with the other side's
/// outcome as expectation, and at the first difference both outcomes.
std::string to_vfs(const sc::script& s, const outcomes& mock, const outcomes& other, sides& b,
                   std::optional<std::size_t> first_difference) {
  std::ostringstream v;
  v << "# fuzz_diff_kernel reproducer (fuzz/to-vfs): the input's operations as a scenario\n";
  if (b.has_kernel()) {
    v << "# expect-source: kernel\n# observed: fuzz_diff_kernel in the test bed on Linux " << b.release()
      << "; mock profile " << b.profile_name() << "\n";
  } else {
    v << "# expect-source: mock (no test bed here: the expectations are the mock's, profile "
      << b.profile_name() << "; run it in the guest for the kernel's)\n";
  }
  v << "# profile: " << b.profile_name() << "\n# requires: " << requirements(s) << "\n";
  if (first_difference) {
    v << "# differs at operation " << *first_difference + 1 << ": " << b.other_name() << " and mock ("
      << b.profile_name() << ")\n";
  } else {
    v << "# both sides agree on every line: exact reproducer, " << s.statements.size() << " operations\n";
  }
  const std::size_t n = first_difference ? *first_difference + 1 : s.statements.size();
  for (std::size_t i = 0; i < n && i < s.statements.size(); ++i) {
    const auto& st = s.statements[i];
    const std::string& expected = i < other.lines.size() ? other.lines[i] : std::string("?");
    v << st.text << " => " << expected << "\n";
    if (first_difference && i == *first_difference) {
      v << "# " << b.other_name() << ": " << expected << "\n# mock (" << b.profile_name()
        << "): " << (i < mock.lines.size() ? mock.lines[i] : std::string("(nothing)")) << "\n";
    }
  }
  if (other.failed) v << "# " << b.other_name() << " failed: " << other.diag << "\n";
  if (mock.failed) v << "# mock failed: " << mock.diag << "\n";
  return v.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static sides both;
  static const char* to_vfs_path = std::getenv("VFIOPIN_TO_VFS");
  const std::string text = vfiopin::fuzz::scenario_ops::decode(data, size);
  auto parsed = sc::parse(text, "input.vfs");
  if (!parsed) die("the decoder wrote a script the parser refuses: " + parsed.error().to_string() + "\n" + text);
  const sc::script& s = *parsed;

  const outcomes mock = both.mock(s);
  const outcomes other = both.other(s);
  std::optional<std::size_t> first;
  const std::size_t n = std::max(mock.lines.size(), other.lines.size());
  for (std::size_t i = 0; i < n && !first; ++i)
    if (i >= mock.lines.size() || i >= other.lines.size() || mock.lines[i] != other.lines[i]) first = i;
  if (!first && (mock.failed || other.failed)) first = std::min(mock.lines.size(), other.lines.size());

  if (to_vfs_path != nullptr && *to_vfs_path != 0) {
    std::ofstream(to_vfs_path) << to_vfs(s, mock, other, both, first);
    return 0;
  }
  if (first) {
    die("the mock (" + both.profile_name() + ") and the " + both.other_name() + " differ at operation " +
        std::to_string(*first + 1) + "; reproducer:\n" + to_vfs(s, mock, other, both, first));
  }
  return 0;
}
