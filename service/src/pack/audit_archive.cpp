// The audit archive (audit_archive.hpp): au:{P} -> daily NDJSON files, fsync, watermark, trim; retention;
// the archived history of one pack.
#include "vpoint/service/audit_archive.hpp"

#include "vpoint/cache/lease.hpp"
#include "vpoint/cache/outbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <boost/algorithm/hex.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "vpoint/service/alerts.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kFilePrefix = "audit-";
constexpr std::string_view kFileSuffix = ".ndjson";

std::string os_error(std::string_view what, const fs::path& path, int err) {
  return fmt::format("[audit] dir: {} {}: {}", what, path.string(), std::strerror(err));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string fsync_dir(const fs::path& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0) return os_error("open", dir, errno);
  if (::fsync(d.fd) != 0) return os_error("fsync", dir, errno);
  return "";
}

// The lines a round appends to one daily file, and for the sidecar index each line's serial (hex) and
// offset within `data`.
struct FileAppend {
  std::string data;
  std::vector<std::pair<std::string, std::size_t>> entries;
};

std::string hex_of(std::string_view bytes) {
  std::string out;
  boost::algorithm::hex_lower(bytes.begin(), bytes.end(), std::back_inserter(out));
  return out;
}

// Sidecar index of a daily file (issue 15): audit-YYYY-MM-DD.ndjson.idx, lines "<hex serial> <offset>" of
// the file's lines, each batch closed by "# <end offset>" = the file size the index covers. A look-up reads
// the index (a tenth of the bytes), then only the lines it names, and scans the uncovered tail directly, so
// a lost or torn index costs speed, never an entry. Not fsync'd for that reason.
fs::path index_path(const fs::path& file) { return fs::path(file.string() + ".idx"); }

// Reads a whole small file; "" when it does not exist.
std::string read_small(const fs::path& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  std::string out;
  if (f.fd < 0) return out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// The coverage of an index text: the offset of its last complete "# <n>" line (0 = none).
std::uint64_t index_coverage(std::string_view text) {
  std::uint64_t covered = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) break;  // torn last line
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > 2 && line[0] == '#' && line[1] == ' ') {
      std::uint64_t n = 0;
      auto r = std::from_chars(line.data() + 2, line.data() + line.size(), n);
      if (r.ec == std::errc() && r.ptr == line.data() + line.size()) covered = n;
    }
    pos = end + 1;
  }
  return covered;
}

// Appends index lines for [base, base + data) of `file` (plus any gap a crash left between the index's
// coverage and `base`, indexed from the file itself). Best effort: an error only costs look-up speed.
void append_index(const fs::path& file, int file_fd, std::uint64_t base, const FileAppend& add) {
  fs::path idx = index_path(file);
  std::string text = read_small(idx);
  std::uint64_t covered = index_coverage(text);
  std::string out;
  if (!text.empty() && text.back() != '\n') out.push_back('\n');  // end a torn line
  if (covered < base) {
    // Lines written by a round whose index append was lost: index them from the file.
    std::string gap(static_cast<std::size_t>(base - covered), '\0');
    ssize_t n = ::pread(file_fd, gap.data(), gap.size(), static_cast<off_t>(covered));
    if (n != static_cast<ssize_t>(gap.size())) return;  // leave the index behind: look-ups scan the tail
    std::size_t pos = 0;
    while (pos < gap.size()) {
      auto end = gap.find('\n', pos);
      if (end == std::string::npos) break;
      if (auto rec = parse_ndjson(std::string_view(gap).substr(pos, end - pos)))
        out += fmt::format("{} {}\n", hex_of(rec->serial), covered + pos);
      pos = end + 1;
    }
  }
  for (const auto& [serial_hex, offset] : add.entries) out += fmt::format("{} {}\n", serial_hex, base + offset);
  out += fmt::format("# {}\n", base + add.data.size());
  Fd f{::open(idx.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)};
  if (f.fd < 0) return;
  std::string_view rest = out;
  while (!rest.empty()) {
    ssize_t n = ::write(f.fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Appends each file's lines and fsyncs it (and the directory for a new file), then its index. Blocking: runs
// on the pool.
std::string append_and_sync(const fs::path& dir, const std::map<std::string, FileAppend>& files) {
  for (const auto& [name, append] : files) {
    const std::string& data = append.data;
    fs::path path = dir / name;
    bool created = true;
    Fd f{::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640)};
    if (f.fd < 0 && errno == EEXIST) {
      created = false;
      f.fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (f.fd < 0) return os_error("open", path, errno);
    std::string fixed;
    std::string_view out = data;
    std::uint64_t base = 0;  // where `data` starts in the file
    if (!created) {
      // A crash in the middle of a write leaves a torn last line: end it, so that the new lines stay whole
      // (readers skip the torn one; its entry is written again because the watermark never passed it).
      struct stat st {};
      if (::fstat(f.fd, &st) != 0) return os_error("stat", path, errno);
      base = static_cast<std::uint64_t>(st.st_size);
      char last = '\n';
      if (st.st_size > 0 && ::pread(f.fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
        fixed = "\n" + data;
        out = fixed;
        base += 1;
      }
    }
    while (!out.empty()) {
      ssize_t n = ::write(f.fd, out.data(), out.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return os_error("write", path, errno);
      out.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(f.fd) != 0) return os_error("fsync", path, errno);
    if (created) {
      if (auto e = fsync_dir(dir); !e.empty()) return e;
    }
    append_index(path, f.fd, base, append);
  }
  return "";
}

std::optional<std::chrono::sys_days> file_day(std::string_view name) {
  // audit-YYYY-MM-DD.ndjson
  if (name.size() != kFilePrefix.size() + 10 + kFileSuffix.size() ||
      name.substr(0, kFilePrefix.size()) != kFilePrefix ||
      name.substr(name.size() - kFileSuffix.size()) != kFileSuffix)
    return std::nullopt;
  std::string_view d = name.substr(kFilePrefix.size(), 10);
  if (d[4] != '-' || d[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, day = 0;
  auto num = [](std::string_view s, auto& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  };
  if (!num(d.substr(0, 4), y) || !num(d.substr(5, 2), m) || !num(d.substr(8, 2), day)) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m), std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd);
}

// Archive files of `dir`, oldest day first.
Result<std::vector<fs::path>, std::string> archive_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (file_day(name)) out.push_back(it->path());
  }
  if (ec) return Unexpected{os_error("list", dir, ec.value())};
  std::sort(out.begin(), out.end());
  return out;
}

std::int64_t parse_iso_ms(std::string_view iso) {
  // YYYY-MM-DDTHH:MM:SS.mmmZ (iso_time_ms)
  if (iso.size() != 24) return 0;
  auto day = file_day(std::string(kFilePrefix) + std::string(iso.substr(0, 10)) + std::string(kFileSuffix));
  if (!day) return 0;
  int h = 0, mi = 0, s = 0, ms = 0;
  std::from_chars(iso.data() + 11, iso.data() + 13, h);
  std::from_chars(iso.data() + 14, iso.data() + 16, mi);
  std::from_chars(iso.data() + 17, iso.data() + 19, s);
  std::from_chars(iso.data() + 20, iso.data() + 23, ms);
  auto t = std::chrono::sys_time<std::chrono::milliseconds>(*day) + std::chrono::hours(h) +
           std::chrono::minutes(mi) + std::chrono::seconds(s) + std::chrono::milliseconds(ms);
  return t.time_since_epoch().count();
}

using RecordKey = std::pair<int, std::string>;

// What one pack's look-up collects: its records by (partition, id).
struct PackMatch {
  const std::vector<std::string>& codes;
  const std::string& serial;
  std::map<RecordKey, AuditRecord> found;

  void offer(std::string_view line) {
    auto rec = parse_ndjson(line);
    if (!rec || rec->serial != serial || std::find(codes.begin(), codes.end(), rec->code) == codes.end()) return;
    rec->archived = true;
    RecordKey key{rec->partition, rec->id};
    found.emplace(std::move(key), std::move(*rec));
  }
};

// The lines the index names for the serial, below its coverage; returns the coverage (0: no usable index,
// scan everything). Each named line is read with one pread.
Result<std::uint64_t, std::string> read_indexed(const fs::path& path, int fd, PackMatch& match) {
  std::string text = read_small(index_path(path));
  std::uint64_t covered = index_coverage(text);
  if (covered == 0) return std::uint64_t{0};
  const std::string key = hex_of(match.serial) + " ";
  std::string line(4096, '\0');
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) break;
    std::string_view entry(text.data() + pos, end - pos);
    pos = end + 1;
    if (entry.substr(0, key.size()) != key) continue;
    std::uint64_t offset = 0;
    auto r = std::from_chars(entry.data() + key.size(), entry.data() + entry.size(), offset);
    if (r.ec != std::errc() || offset >= covered) continue;
    // One line: read 4 KiB, more while no newline came.
    std::size_t have = 0;
    for (;;) {
      ssize_t n = ::pread(fd, line.data() + have, line.size() - have, static_cast<off_t>(offset + have));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Unexpected{os_error("read", path, errno)};
      have += static_cast<std::size_t>(n);
      auto nl = std::string_view(line.data(), have).find('\n');
      if (nl != std::string_view::npos) {
        match.offer(std::string_view(line.data(), nl));
        break;
      }
      if (n == 0 || have > (1u << 20)) break;  // torn, or not a line of ours
      if (have == line.size()) line.resize(line.size() * 2);
    }
  }
  return covered;
}

// The archived records of one pack, by (partition, id). Blocking: runs on the pool. Per daily file: the lines
// its sidecar index names, then the part the index does not cover (all of it without an index) with a cheap
// substring prefilter ("serial":"<serial>") over whole buffers; only the lines it hits are parsed as JSON.
Result<std::vector<AuditRecord>, std::string> scan_files(const fs::path& dir,
                                                         const std::vector<std::string>& codes,
                                                         const std::string& serial) {
  auto files = archive_files(dir);
  if (!files) return Unexpected{files.error()};
  const std::string needle = "\"serial\":" + json::serialize(json::value(json::string(serial)));
  PackMatch match{codes, serial, {}};
  std::string buf;
  std::vector<char> chunk(1 << 20);
  for (const auto& path : *files) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
      if (errno == ENOENT) continue;  // deleted by the retention sweep meanwhile
      return Unexpected{os_error("open", path, errno)};
    }
    auto covered = read_indexed(path, f.fd, match);
    if (!covered) return Unexpected{covered.error()};
    if (::lseek(f.fd, static_cast<off_t>(*covered), SEEK_SET) < 0) return Unexpected{os_error("seek", path, errno)};
    buf.clear();
    for (;;) {
      ssize_t n = ::read(f.fd, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Unexpected{os_error("read", path, errno)};
      if (n == 0) break;  // a last line without newline is torn (or being written): skipped
      buf.append(chunk.data(), static_cast<std::size_t>(n));
      auto complete = buf.rfind('\n');
      if (complete == std::string::npos) continue;
      std::string_view region(buf.data(), complete + 1);
      std::size_t pos = 0;
      for (auto hit = region.find(needle, pos); hit != std::string_view::npos;
           hit = region.find(needle, pos)) {
        auto start = hit == 0 ? std::string_view::npos : region.rfind('\n', hit - 1);
        start = start == std::string_view::npos ? 0 : start + 1;
        auto end = region.find('\n', hit);
        match.offer(region.substr(start, end - start));
        pos = end + 1;
      }
      buf.erase(0, complete + 1);
    }
  }
  std::vector<AuditRecord> out;
  out.reserve(match.found.size());
  for (auto& [key, rec] : match.found) out.push_back(std::move(rec));
  std::stable_sort(out.begin(), out.end(),
                   [](const AuditRecord& a, const AuditRecord& b) { return stream_id_less(a.id, b.id); });
  return out;
}

Result<std::vector<std::string>, std::string> sweep(const fs::path& dir, unsigned retention_days) {
  auto files = archive_files(dir);
  if (!files) return Unexpected{files.error()};
  auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  auto oldest_kept = today - std::chrono::days(retention_days);
  std::vector<std::string> deleted;
  for (const auto& path : *files) {
    auto name = path.filename().string();
    auto day = file_day(name);
    if (!day || *day >= oldest_kept) continue;
    std::error_code ec;
    if (!fs::remove(path, ec) && ec) return Unexpected{os_error("delete", path, ec.value())};
    fs::remove(index_path(path), ec);  // its sidecar index (absent for files written before issue 15)
    // Each deletion is logged: removing audit records is itself an event worth a trace.
    log_event(spdlog::level::info, "audit_file_deleted",
              {{"file", path.string()}, {"retention_days", retention_days}});
    deleted.push_back(std::move(name));
  }
  return deleted;
}

// Runs blocking work on `pool`; the awaiting coroutine resumes on its own executor with the result (or the
// exception). Plain callbacks, no coroutine lambda: GCC 12 mishandles captures and temporaries around those.
template <class T>
asio::awaitable<T> on_pool(asio::thread_pool& pool, std::function<T()> work) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, T)>(
      [](auto handler, asio::thread_pool* pool, std::function<T()> work) {
        auto ex = asio::get_associated_executor(handler);
        asio::post(*pool, [handler = std::move(handler), work = std::move(work), ex]() mutable {
          std::exception_ptr error;
          T result{};
          try {
            result = work();
          } catch (...) {
            error = std::current_exception();
          }
          asio::post(ex, [handler = std::move(handler), error, result = std::move(result)]() mutable {
            std::move(handler)(error, std::move(result));
          });
        });
      },
      asio::use_awaitable, &pool, std::move(work));
}

std::string redis_error(std::string_view what, const cache::MirrorError& e) {
  return fmt::format("audit archive: {}: {}", what, e.message);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Records

std::string to_ndjson(const AuditRecord& r) {
  // Key order is fixed (json::object keeps insertion order): the reader's prefilter looks for "serial":"…".
  json::object o;
  o["id"] = r.id;
  o["partition"] = r.partition;
  o["time"] = iso_time_ms(r.time_ms);
  o["code"] = r.code;
  o["serial"] = r.serial;
  o["op"] = r.operation;
  o["action"] = r.action.empty() ? json::value(nullptr) : json::value(r.action);
  o["outcome"] = r.outcome;
  o["previous_status"] = r.previous_status;
  o["status"] = r.status;
  o["location"] = r.location;
  o["actor"] = r.actor;
  o["tx"] = r.transaction_id;
  if (!r.related_transaction.empty()) o["other_tx"] = r.related_transaction;
  if (!r.central_code.empty()) o["central_code"] = r.central_code;
  if (!r.note.empty()) o["note"] = r.note;
  return json::serialize(o);
}

std::optional<AuditRecord> parse_ndjson(std::string_view line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  auto text = [&](std::string_view k, std::string& out) {
    const json::value* x = o.if_contains(k);
    if (!x) return false;
    if (x->is_null()) {
      out.clear();
      return true;
    }
    if (!x->is_string()) return false;
    out = std::string(x->get_string());
    return true;
  };
  AuditRecord r;
  std::string time;
  const json::value* partition = o.if_contains("partition");
  if (!partition || !partition->is_int64()) return std::nullopt;
  r.partition = static_cast<int>(partition->get_int64());
  if (!text("id", r.id) || !cache::stream_id_ms(r.id) || !text("time", time) || !text("code", r.code) ||
      !text("serial", r.serial) || !text("op", r.operation) || !text("action", r.action) ||
      !text("outcome", r.outcome) || !text("previous_status", r.previous_status) ||
      !text("status", r.status) || !text("location", r.location) || !text("actor", r.actor) ||
      !text("tx", r.transaction_id))
    return std::nullopt;
  if (o.contains("other_tx") && !text("other_tx", r.related_transaction)) return std::nullopt;
  if (o.contains("central_code") && !text("central_code", r.central_code)) return std::nullopt;
  if (o.contains("note") && !text("note", r.note)) return std::nullopt;
  r.time_ms = parse_iso_ms(time);
  return r;
}

std::string archive_file_name(std::int64_t unix_ms) {
  auto day = std::chrono::floor<std::chrono::days>(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(unix_ms)));
  std::chrono::year_month_day ymd{day};
  return fmt::format("{}{:04}-{:02}-{:02}{}", kFilePrefix, static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), kFileSuffix);
}

AuditArchiveOptions audit_archive_options(const Config& config) {
  AuditArchiveOptions o;
  o.dir = config.audit.dir;
  o.retention_days = config.audit.retention_days;
  o.min_age = std::chrono::seconds(config.audit.min_age_s);
  o.interval = std::chrono::seconds(config.audit.interval_s);
  return o;
}

std::string validate(const AuditArchiveOptions& o) {
  if (o.dir.empty()) return "[audit] dir: must not be empty";
  if (o.retention_days == 0) return "[audit] retention_days: must be at least 1";
  if (o.min_age.count() < 0) return "[audit] min_age_s: must not be negative";
  if (o.interval.count() <= 0) return "[audit] interval_s: must be at least 1";
  if (o.batch == 0) return "audit archive batch: must be at least 1";
  if (o.partitions_per_step <= 0 || cache::kPartitions % o.partitions_per_step != 0)
    return fmt::format("audit archive partitions_per_step: must divide {}", cache::kPartitions);
  if (o.io_threads == 0) return "audit archive io_threads: must be at least 1";
  return "";
}

// ---------------------------------------------------------------------------------------------------------
// The archiver

struct AuditArchive::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, cache::Client& c, AuditArchiveOptions o)
      : executor(std::move(ex)),
        client(c),
        options(std::move(o)),
        pool(options.io_threads),
        lease(client, "audit", options.instance_id, options.lease_ttl),
        audit(client),
        outbox(client) {
    if (options.metrics) {
      failing_gauge = &prometheus::BuildGauge()
                           .Name("vpoint_audit_archive_failing")
                           .Help("1 while audit archive rounds fail (entries stay in Redis, nothing is trimmed)")
                           .Register(*options.metrics)
                           .Add({});
      failures_counter = &prometheus::BuildCounter()
                              .Name("vpoint_audit_archive_failures_total")
                              .Help("Audit archive rounds that failed (a full disk, a Redis error)")
                              .Register(*options.metrics)
                              .Add({});
    }
  }
  ~Impl() { pool.join(); }

  asio::any_io_executor executor;
  cache::Client& client;
  AuditArchiveOptions options;
  asio::thread_pool pool;  // file I/O only: an io_context thread never waits for a disk
  cache::Lease lease;      // one archiver at a time across instances (vpoint:lease:audit)
  cache::AuditLog audit;
  cache::Outbox outbox;
  std::atomic<bool> stopping{false};
  std::atomic<bool> lease_held{false};
  std::atomic<bool> round_running{
      false};  // archive_once is not re-entrant (tests may call it beside the loop)
  std::mutex mutex;
  std::condition_variable loop_done;
  bool loop_running = false;
  ArchiveHealth health;  // under `mutex`
  prometheus::Gauge* failing_gauge = nullptr;
  prometheus::Counter* failures_counter = nullptr;

  // A round's outcome into health, metrics and the log (one line per stretch of failures, at error level:
  // an operator must free space or fix the directory; nothing is lost meanwhile).
  void record_round(const std::string& error) {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    ArchiveHealth before;
    std::uint64_t failed_rounds = 0;
    {
      std::lock_guard lock(mutex);
      before = health;
      if (error.empty()) {
        health.failing = false;
        health.error.clear();
        health.failing_since_ms = 0;
        health.last_ok_ms = now;
      } else {
        if (!health.failing) health.failing_since_ms = now;
        health.failing = true;
        health.error = error;
        ++health.failed_rounds;
      }
      failed_rounds = health.failed_rounds;
    }
    if (failing_gauge) failing_gauge->Set(error.empty() ? 0 : 1);
    if (!error.empty() && failures_counter) failures_counter->Increment();
    if (!error.empty() && error != before.error)
      log_event(spdlog::level::err, "audit_archive_failed",
                {{"error", error}, {"detail", "nothing is trimmed from Redis until a round succeeds"}});
    if (error.empty() && before.failing)
      log_event(spdlog::level::info, "audit_archive_recovered",
                {{"failed_rounds", failed_rounds}, {"failing_ms", now - before.failing_since_ms}});
  }

  asio::awaitable<bool> hold_lease() {
    lease_held = co_await lease.hold();
    co_return lease_held.load();
  }

  asio::awaitable<Result<ArchiveRound, std::string>> archive_once() {
    // A flag, not a mutex: the coroutine may resume on another thread of the io_context.
    if (round_running.exchange(true))
      co_return Unexpected{std::string("audit archive: a round is already running")};
    struct Release {
      std::atomic<bool>& flag;
      ~Release() { flag = false; }
    } release{round_running};
    ArchiveRound round;
    if (!co_await hold_lease()) co_return round;
    round.lease_held = true;
    // The clock of the streams' ids: Redis TIME, not this host's.
    auto now_ms = co_await audit.now_ms();
    if (!now_ms) co_return Unexpected{redis_error("TIME", now_ms.error())};
    const std::int64_t age_cutoff =
        *now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(options.min_age).count();

    for (int first = 0; first < cache::kPartitions; first += options.partitions_per_step) {
      if (stopping) break;
      if (first > 0 && !co_await hold_lease()) {
        round.lease_held = false;  // another instance took over: it goes on from the watermarks
        break;
      }
      std::vector<int> partitions;
      for (int p = first; p < first + options.partitions_per_step; ++p) partitions.push_back(p);
      // 1. The oldest unacknowledged state change of each partition, and the watermarks.
      auto heads = co_await outbox.read(partitions, 1);
      if (!heads) co_return Unexpected{redis_error("outbox heads", heads.error())};
      auto marks = co_await audit.watermarks(partitions);
      if (!marks) co_return Unexpected{redis_error("watermarks", marks.error())};
      std::vector<std::string> mark = std::move(*marks);
      std::vector<cache::AuditRange> ranges;
      for (std::size_t i = 0; i < partitions.size(); ++i) {
        std::int64_t cutoff = age_cutoff;
        // Millisecond of the oldest pending state change: nothing from that millisecond on is archived.
        if (!(*heads)[i].empty())
          if (auto ms = cache::stream_id_ms((*heads)[i].front().id)) cutoff = std::min(cutoff, *ms);
        if (cutoff <= 0) continue;
        if (auto m = cache::stream_id_ms(mark[i]); m && *m >= cutoff) continue;
        ranges.push_back(cache::AuditRange{partitions[i], mark[i], 0, cutoff});
      }
      // 2. The archivable entries after each watermark.
      std::map<std::string, FileAppend> files;   // file name -> lines (+ index entries)
      std::map<int, std::string> advanced;       // partition -> new watermark
      std::size_t lines = 0;
      if (!ranges.empty()) {
        std::vector<std::size_t> raw;
        auto got = co_await audit.read(ranges, options.batch, &raw);
        if (!got) co_return Unexpected{redis_error("audit streams", got.error())};
        for (std::size_t k = 0; k < got->size(); ++k) {
          if (raw[k] >= options.batch) round.more = true;
          for (const auto& rec : (*got)[k]) {
            auto& out = files[archive_file_name(rec.time_ms)];
            out.entries.emplace_back(hex_of(rec.serial), out.data.size());
            out.data += to_ndjson(rec);
            out.data.push_back('\n');
            advanced[rec.partition] = rec.id;
            ++lines;
          }
        }
      }
      // 3. Append + fsync, off the io_context.
      if (!files.empty()) {
        const std::size_t file_count = files.size();
        fs::path dir = options.dir;
        std::function<std::string()> write = [dir, files = std::move(files)]() {
          return append_and_sync(dir, files);
        };
        auto written = co_await on_pool(pool, std::move(write));
        if (!written.empty()) co_return Unexpected{std::move(written)};
        round.files += file_count;
        round.archived += lines;
      }
      if (options.crash_point == AuditArchiveOptions::CrashPoint::after_fsync && lines > 0) co_return round;
      // 4. Watermarks: only after the lines are on disk.
      if (!advanced.empty()) {
        auto set = co_await audit.set_watermarks(advanced);
        if (!set) co_return Unexpected{redis_error("watermarks", set.error())};
        for (const auto& [p, id] : advanced) mark[static_cast<std::size_t>(p - first)] = id;
      }
      if (options.crash_point == AuditArchiveOptions::CrashPoint::after_watermark && lines > 0)
        co_return round;
      // 5. Trim everything up to each watermark; also repairs a crash between watermark and trim.
      std::map<int, std::string> trim;
      for (std::size_t i = 0; i < mark.size(); ++i)
        if (!mark[i].empty()) trim[partitions[i]] = mark[i];
      auto trimmed = co_await audit.trim_through(trim);
      if (!trimmed) co_return Unexpected{redis_error("trim", trimmed.error())};
      round.trimmed += *trimmed;
    }
    co_return round;
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping && std::chrono::steady_clock::now() < until) {
      timer.expires_after(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
      co_await timer.async_wait(kTuple);
    }
  }

  asio::awaitable<Result<std::vector<std::string>, std::string>> apply_retention() {
    fs::path dir = options.dir;
    unsigned days = options.retention_days;
    std::function<Result<std::vector<std::string>, std::string>()> work = [dir, days]() {
      return sweep(dir, days);
    };
    co_return co_await on_pool(pool, std::move(work));
  }

  // The background role; `self` keeps the state alive until the loop has ended.
  static asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
    try {
      co_await self->run();
    } catch (const std::exception& e) {
      log_event(spdlog::level::err, "audit_archive_stopped", {{"error", e.what()}});
    }
    std::lock_guard lock(self->mutex);
    self->loop_running = false;
    self->loop_done.notify_all();
  }

  asio::awaitable<void> run() {
    auto next_retention = std::chrono::steady_clock::time_point{};
    while (!stopping) {
      if (std::chrono::steady_clock::now() >= next_retention) {
        auto swept = co_await apply_retention();
        if (!swept) log_event(spdlog::level::warn, "audit_retention_failed", {{"error", swept.error()}});
        next_retention = std::chrono::steady_clock::now() + options.retention_every;
      }
      auto round = co_await archive_once();
      // Failures are logged once per distinct error; the next round retries from the watermarks.
      record_round(round ? std::string() : round.error());
      if (round) {
        if (round->archived > 0 || round->trimmed > 0)
          log_event(spdlog::level::info, "audit_archived",
                    {{"lines", round->archived}, {"files", round->files}, {"trimmed", round->trimmed}});
        if (round->more) continue;  // a backlog: go on without pausing
      }
      co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(options.interval));
    }
  }
};

AuditArchive::AuditArchive(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditArchive::~AuditArchive() { stop(); }

Result<std::shared_ptr<AuditArchive>, std::string> AuditArchive::open(asio::any_io_executor executor,
                                                                      cache::Client& client,
                                                                      AuditArchiveOptions options) {
  if (auto e = validate(options); !e.empty()) return Unexpected{e};
  if (options.instance_id.empty()) options.instance_id = cache::default_lease_owner();
  std::error_code ec;
  bool created = fs::create_directories(options.dir, ec);
  if (ec) return Unexpected{os_error("create", options.dir, ec.value())};
  if (!fs::is_directory(options.dir, ec))
    return Unexpected{"[audit] dir: " + options.dir.string() + " is not a directory"};
  if (::access(options.dir.c_str(), W_OK | X_OK) != 0)
    return Unexpected{os_error("write to", options.dir, errno)};
  if (created) {
    auto parent = fs::absolute(options.dir, ec).parent_path();
    if (!ec) fsync_dir(parent);  // best effort: the directory entry itself survives a power loss
  }
  return std::shared_ptr<AuditArchive>(
      new AuditArchive(std::make_shared<Impl>(std::move(executor), client, std::move(options))));
}

void AuditArchive::start() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->loop_running) return;
    impl_->loop_running = true;
  }
  asio::co_spawn(asio::make_strand(impl_->executor), Impl::loop(impl_), asio::detached);
}

void AuditArchive::stop(std::chrono::milliseconds timeout) {
  impl_->stopping = true;
  std::unique_lock lock(impl_->mutex);
  impl_->loop_done.wait_for(lock, timeout, [this] { return !impl_->loop_running; });
}

asio::awaitable<Result<ArchiveRound, std::string>> AuditArchive::archive_once() {
  auto self = impl_;
  co_return co_await self->archive_once();
}

asio::awaitable<Result<std::vector<std::string>, std::string>> AuditArchive::apply_retention() {
  auto self = impl_;
  co_return co_await self->apply_retention();
}

asio::awaitable<Result<std::vector<AuditRecord>, std::string>> AuditArchive::pack_history(
    std::vector<std::string> codes, std::string serial) {
  auto self = impl_;
  fs::path dir = self->options.dir;
  std::function<Result<std::vector<AuditRecord>, std::string>()> work = [dir, codes = std::move(codes),
                                                                         serial = std::move(serial)]() {
    return scan_files(dir, codes, serial);
  };
  co_return co_await on_pool(self->pool, std::move(work));
}

const AuditArchiveOptions& AuditArchive::options() const { return impl_->options; }

ArchiveHealth AuditArchive::health() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->health;
}

}  // namespace vpoint::service
