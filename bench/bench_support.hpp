#pragma once
// Helpers shared by the C++ benchmarks (mirror_bench, sync_bench): a buffered file writer and RESP encoding
// for the `redis-cli --pipe` baselines, child processes that are always cleaned up (also on SIGINT/SIGTERM),
// percentiles and CPU time. Header-only: each benchmark is one executable.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace vpoint::bench {

using BenchClock = std::chrono::steady_clock;

inline double seconds_since(BenchClock::time_point t) {
  return std::chrono::duration<double>(BenchClock::now() - t).count();
}

// Buffered writer for the big input files (snapshot NDJSON, RESP for redis-cli --pipe).
class Out {
 public:
  explicit Out(const std::string& path) : file_(std::fopen(path.c_str(), "wb")) {
    if (!file_) throw std::runtime_error("cannot write " + path);
    buf_.reserve(1 << 20);
  }
  ~Out() {
    if (file_) std::fclose(file_);  // an exception is unwinding: the file is thrown away with its dir
  }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= (1u << 20)) flush();
  }
  void close() {
    if (!file_) return;
    flush();
    const bool ok = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok) throw std::runtime_error("closing an output file failed (disk full?)");
  }

 private:
  void flush() {
    if (std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) throw std::runtime_error("write failed (disk full?)");
    buf_.clear();
  }
  std::FILE* file_;
  std::string buf_;
};

// RESP bulk string, and a whole command as a RESP array (what redis-cli --pipe reads).
inline void append_bulk(std::string& out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out.append(s);
  out += "\r\n";
}
inline void append_command(std::string& out, std::initializer_list<std::string_view> argv) {
  out += '*';
  out += std::to_string(argv.size());
  out += "\r\n";
  for (auto a : argv) append_bulk(out, a);
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// ---- child processes ------------------------------------------------------------------------------------
// Every child a benchmark starts is registered here, so that SIGINT/SIGTERM can end them: the first signal
// sets stop_requested() (the benchmark's loops check it and unwind, destructors kill and reap the children
// and remove the temp dirs); a second signal kills the registered children at once and exits.
namespace detail {
inline constexpr int kMaxChildren = 32;
inline std::atomic<pid_t> g_children[kMaxChildren];
inline std::atomic<int> g_signals{0};

inline void register_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}
inline void unregister_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}
inline void on_stop_signal(int sig) {
  if (g_signals.fetch_add(1) == 0) return;  // first: unwind normally
  for (auto& slot : g_children)             // second: only async-signal-safe calls
    if (pid_t pid = slot.load(); pid > 0) ::kill(pid, SIGKILL);
  ::_exit(128 + sig);
}
}  // namespace detail

inline void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = detail::on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}
inline bool stop_requested() { return detail::g_signals.load() > 0; }
inline void throw_if_stopped() {
  if (stop_requested()) throw std::runtime_error("interrupted");
}

// A child process (argv[0] an absolute path, no shell) with stdin from `in` (empty: /dev/null) and
// stdout+stderr to `out`. The destructor ends it (SIGTERM, SIGKILL after 5 s) and reaps it.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out, const std::string& in = {}) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in.empty() ? "/dev/null" : in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    detail::register_child(pid_);
  }
  ~Child() { stop(std::chrono::seconds(5)); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) finish(status);
    return !exited_;
  }
  // Exit status (128 + signal when killed), or -1 when still running after `timeout`.
  int wait(std::chrono::milliseconds timeout) {
    const auto deadline = BenchClock::now() + timeout;
    while (running()) {
      if (BenchClock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }
  // SIGTERM, then SIGKILL after `grace`; reaped either way.
  void stop(std::chrono::milliseconds grace) {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    if (wait(grace) >= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    finish(status);
  }

 private:
  void finish(int status) {
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    detail::unregister_child(pid_);
  }
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
};

// Runs argv with stdin/stdout redirected to files; kills it after `timeout` (or on a stop signal).
// Returns the exit status, -2 on timeout.
inline int run_redirected(const std::vector<std::string>& argv, const std::string& in, const std::string& out,
                          std::chrono::seconds timeout) {
  Child child(argv, out, in);
  const auto deadline = BenchClock::now() + timeout;
  while (child.running()) {
    if (BenchClock::now() > deadline || stop_requested()) {
      child.stop(std::chrono::milliseconds(0));
      return -2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return child.wait(std::chrono::milliseconds(0));
}

// ---- figures --------------------------------------------------------------------------------------------
struct Latencies {
  std::vector<double> us;
  // Nearest-rank percentile (q in 0..1); sorts in place.
  double percentile(double q) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<std::size_t>(q * static_cast<double>(us.size())))];
  }
};

// CPU seconds (user + system) of this process (RUSAGE_SELF) or of its waited-for children (RUSAGE_CHILDREN).
inline double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// CPU seconds of a running process (utime + stime of /proc/PID/stat), e.g. a server the benchmark started.
inline double process_cpu_seconds(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto pos = stat.rfind(')');  // the command name may contain spaces
  if (pos == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string field;
  for (char c : stat.substr(pos + 2)) {
    if (c == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  if (fields.size() < 13) return 0;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / hz;  // fields 14 and 15 of proc(5)
}

}  // namespace vpoint::bench
