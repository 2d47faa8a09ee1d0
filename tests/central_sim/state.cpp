#include "state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_set>
#include <utility>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/ppn.hpp"

namespace vpoint::central_sim {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace {

constexpr std::int64_t kUndoWindowMs = 10LL * 24 * 3600 * 1000;  // EU 2016/161 Art 13(1)(b): 10 days
constexpr std::size_t kMaxTransactions = 10000;                  // per request

std::string_view str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  const auto& s = it->value().get_string();
  return {s.data(), s.size()};
}

bool has_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string();
}

// Pack statuses and actions as cache/mirror.hpp spells them.
constexpr std::array<std::string_view, 8> kStatuses{"active", "supplied", "destroyed", "exported",
                                                    "sample", "free_sample", "stolen", "locked"};
bool is_status(std::string_view s) { return std::find(kStatuses.begin(), kStatuses.end(), s) != kStatuses.end(); }

// Decommission actions and the status each leads to (cache/mirror.hpp's status_after), both ways.
constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kActionStatus{{{"supply", "supplied"},
                                                                                     {"destroy", "destroyed"},
                                                                                     {"export", "exported"},
                                                                                     {"sample", "sample"},
                                                                                     {"free_sample", "free_sample"},
                                                                                     {"stolen", "stolen"},
                                                                                     {"lock", "locked"}}};

// The status a decommission leads to; "" for unknown actions.
std::string_view status_after(std::string_view action) {
  for (const auto& [a, status] : kActionStatus)
    if (a == action) return status;
  return {};
}

// The action that leads to a status; "" for active or unknown statuses.
std::string_view action_for(std::string_view status) {
  for (const auto& [action, st] : kActionStatus)
    if (st == status) return action;
  return {};
}

bool serial_ok(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return scanner::gs1::in_cset82(c); });
}

bool product_code_ok(std::string_view key, std::string_view code) {
  if (key == "gtin") return code.size() == 14 && scanner::gs1::check_digit_ok(code);
  return scanner::ppn::ppn_check_ok(code);
}

// Expiry YYMMDD (day 00 = month's last day) as days since epoch; nullopt when not a date.
std::optional<std::int64_t> expiry_day(std::string_view yymmdd, int reference_year) {
  auto date = scanner::gs1::expiry_date(yymmdd, reference_year);
  if (!date) return std::nullopt;
  using namespace std::chrono;
  sys_days d{year{date->year} / month{static_cast<unsigned>(date->month)} / day{static_cast<unsigned>(date->day)}};
  return d.time_since_epoch().count();
}

std::int64_t day_of(std::int64_t unix_ms) {
  return unix_ms >= 0 ? unix_ms / 86400000 : (unix_ms - 86399999) / 86400000;
}

json::object history_json(const HistoryEntry& h) {
  return {{"time", format_rfc3339(h.time_ms)}, {"event", h.event},       {"action", h.action},
          {"status", h.status},                {"location", h.location}, {"actor", h.actor},
          {"transaction", h.transaction}};
}

HistoryEntry history_from(const json::object& o) {
  HistoryEntry h;
  if (auto t = parse_rfc3339(str(o, "time"))) h.time_ms = *t;
  h.event = str(o, "event");
  h.action = str(o, "action");
  h.status = str(o, "status");
  h.location = str(o, "location");
  h.actor = str(o, "actor");
  h.transaction = str(o, "transaction");
  return h;
}

StateError bad(std::string field, std::string message) {
  return StateError{StateError::Kind::bad_request, std::move(message), std::move(field)};
}

}  // namespace

const BatchRecord* ProductRecord::find_batch(std::string_view batch) const {
  for (const auto& b : batches) {
    if (b.batch == batch) return &b;
  }
  return nullptr;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
  auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    if (pos + n > t.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2),
       s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || *mo < 1 || *mo > 12 || *d < 1 ||
      *d > scanner::gs1::days_in_month(*y, *mo) || *h > 23 || *mi > 59 || *s > 60)
    return std::nullopt;
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int count = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (count < 3) millis = millis * 10 + (t[pos] - '0');
      ++count;
      ++pos;
    }
    if (count == 0) return std::nullopt;
    for (int i = count; i < 3; ++i) millis *= 10;
  }
  std::int64_t offset_min = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 3 >= t.size() || t[pos + 3] != ':') return std::nullopt;
    offset_min = (*oh * 60 + *om) * (t[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  using namespace std::chrono;
  sys_days day_point{year{*y} / month{static_cast<unsigned>(*mo)} / day{static_cast<unsigned>(*d)}};
  std::int64_t secs = day_point.time_since_epoch().count() * 86400LL + *h * 3600 + *mi * 60 + *s - offset_min * 60;
  return secs * 1000 + millis;
}

std::string format_rfc3339(std::int64_t unix_ms) {
  using namespace std::chrono;
  std::int64_t days = day_of(unix_ms);
  std::int64_t rest = unix_ms - days * 86400000;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), rest / 3600000,
                     rest / 60000 % 60, rest / 1000 % 60, rest % 1000);
}

// ---------------------------------------------------------------------------------------------------------

struct PackRecord {
  std::uint32_t batch = 0;
  std::string status = "active";
  bool uses_ppn = false;
  bool deleted = false;
  std::vector<HistoryEntry> history;
};
using PackKey = std::pair<std::uint32_t, std::string>;

struct TxLog {
  json::object request;
  TxResult result;
  std::int64_t received_ms = 0;
};

struct Central::Impl {
  StateOptions options;
  const Seed* seed = nullptr;
  std::uint32_t seeded_products = 0;
  int reference_year = 0;

  mutable std::mutex mutex;
  std::vector<ProductRecord> products;
  std::unordered_map<std::string, std::uint32_t> code_index;
  std::unordered_map<std::uint64_t, PackRecord> seeded_changed;
  std::map<PackKey, PackRecord> uploaded;
  std::map<std::string, json::array> aggregations;  // uploaded; an empty array = deleted
  std::uint64_t seq = 0;
  struct FeedEntry {
    std::uint64_t seq;
    std::string line;
  };
  std::deque<FeedEntry> feed;
  std::uint64_t feed_trimmed_to = 0;  // changes up to this seq are no longer in `feed`
  std::unordered_map<std::string, TxResult> tx_results;
  std::vector<TxLog> tx_log;
  std::vector<json::object> alerts;
  std::unordered_map<std::string, std::size_t> alert_ids;
  std::map<std::uint64_t, std::function<void()>> waiters;
  std::uint64_t next_waiter = 1;
  int journal_fd = -1;
  bool storage_failed = false;
  std::int64_t seeded_decommission_ms = 0;

  ~Impl() {
    if (journal_fd >= 0) ::close(journal_fd);
  }

  std::optional<std::uint32_t> find_product(std::string_view code) const {
    auto it = code_index.find(std::string(code));
    if (it == code_index.end()) return std::nullopt;
    return it->second;
  }

  // The product named by an object's "gtin" or "ppn".
  std::optional<std::uint32_t> product_of(const json::object& o) const {
    for (auto key : {"gtin", "ppn"}) {
      if (auto code = str(o, key); !code.empty()) {
        if (auto p = find_product(code)) return p;
      }
    }
    return std::nullopt;
  }

  PackRecord seeded_record(std::uint64_t index) const {
    PackRecord r;
    r.batch = seed->batch_of(index);
    r.status = std::string(seed->status_of(index));
    r.uses_ppn = seed->products()[seed->product_of(index)].pack_uses_ppn;
    if (r.status != "active") {
      r.history.push_back(HistoryEntry{seeded_decommission_ms, "seeded", std::string(action_for(r.status)), r.status,
                                       std::string(kSeedLocation), "central", ""});
    }
    return r;
  }

  struct Located {
    const PackRecord* record = nullptr;  // stored state
    std::optional<std::uint64_t> seeded;
    std::optional<PackRecord> base;      // seeded state when nothing is stored
    const PackRecord* get() const { return record ? record : (base ? &*base : nullptr); }
  };

  Located locate(std::uint32_t product, std::string_view serial) const {
    Located loc;
    if (product < seeded_products) {
      if (auto i = seed->find_pack(product, serial)) {
        loc.seeded = *i;
        auto it = seeded_changed.find(*i);
        if (it != seeded_changed.end()) loc.record = &it->second;
        else loc.base = seeded_record(*i);
      }
    }
    if (!loc.seeded) {
      auto it = uploaded.find(PackKey{product, std::string(serial)});
      if (it != uploaded.end()) loc.record = &it->second;
    }
    if (loc.get() && loc.get()->deleted) return {};
    return loc;
  }

  PackRecord& writable(std::uint32_t product, std::string_view serial) {
    if (product < seeded_products) {
      if (auto i = seed->find_pack(product, serial)) {
        auto it = seeded_changed.find(*i);
        if (it == seeded_changed.end()) it = seeded_changed.emplace(*i, seeded_record(*i)).first;
        return it->second;
      }
    }
    return uploaded[PackKey{product, std::string(serial)}];
  }

  json::object pack_object(std::uint32_t product, std::string_view serial, const PackRecord& r) const {
    const ProductRecord& p = products[product];
    bool ppn = r.uses_ppn && !p.ppn.empty();
    json::object o;
    o["type"] = "pack";
    o[ppn ? "ppn" : "gtin"] = ppn ? p.ppn : p.gtin;
    o["serial"] = serial;
    o["batch"] = r.batch < p.batches.size() ? p.batches[r.batch].batch : std::string();
    o["status"] = r.status;
    return o;
  }

  json::object batch_object(std::uint32_t product, const BatchRecord& b) const {
    const ProductRecord& p = products[product];
    json::object o;
    o["type"] = "batch";
    o[p.gtin.empty() ? "ppn" : "gtin"] = p.primary_code();
    o["batch"] = b.batch;
    o["expiry"] = b.expiry;
    o["state"] = b.state;
    if (!b.reason.empty()) o["reason"] = b.reason;
    if (b.changed_at_ms != 0) o["changed_at"] = b.changed_at_ms;
    return o;
  }

  json::object product_object(const ProductRecord& p) const {
    json::object o;
    o["type"] = "product";
    if (!p.gtin.empty()) o["gtin"] = p.gtin;
    if (!p.ppn.empty()) o["ppn"] = p.ppn;
    o["name"] = p.name;
    o["market"] = p.market;
    return o;
  }

  std::uint32_t add_product(ProductRecord p) {
    auto index = static_cast<std::uint32_t>(products.size());
    if (!p.gtin.empty()) code_index[p.gtin] = index;
    if (!p.ppn.empty()) code_index[p.ppn] = index;
    products.push_back(std::move(p));
    return index;
  }

  // ----- applying changes (live and on replay) -----

  // {"seq","op","obj"[,"hist"]}: updates memory and appends to the feed.
  void apply_change(const json::object& change, bool to_feed = true) {
    const json::object& obj = change.at("obj").as_object();
    std::string_view op = str(change, "op");
    std::string_view type = str(obj, "type");
    std::uint64_t change_seq = change.at("seq").to_number<std::uint64_t>();
    if (type == "product") {
      auto existing = product_of(obj);
      if (!existing) {
        ProductRecord p;
        p.gtin = str(obj, "gtin");
        p.ppn = str(obj, "ppn");
        p.name = str(obj, "name");
        p.market = str(obj, "market");
        p.pack_uses_ppn = p.gtin.empty();
        add_product(std::move(p));
      } else {
        ProductRecord& p = products[*existing];
        if (has_string(obj, "name")) p.name = str(obj, "name");
        if (has_string(obj, "market")) p.market = str(obj, "market");
        if (p.gtin.empty() && has_string(obj, "gtin")) code_index[p.gtin = str(obj, "gtin")] = *existing;
        if (p.ppn.empty() && has_string(obj, "ppn")) code_index[p.ppn = str(obj, "ppn")] = *existing;
      }
    } else if (type == "batch") {
      if (auto p = product_of(obj)) {
        ProductRecord& product = products[*p];
        BatchRecord* target = nullptr;
        for (auto& b : product.batches) {
          if (b.batch == str(obj, "batch")) target = &b;
        }
        if (!target) {
          product.batches.push_back(BatchRecord{std::string(str(obj, "batch"))});
          target = &product.batches.back();
        }
        if (has_string(obj, "expiry")) target->expiry = str(obj, "expiry");
        target->state = has_string(obj, "state") ? std::string(str(obj, "state")) : "active";
        target->reason = str(obj, "reason");
        auto t = obj.find("changed_at");
        target->changed_at_ms = t != obj.end() && t->value().is_number() ? t->value().to_number<std::int64_t>() : 0;
      }
    } else if (type == "pack") {
      if (auto p = product_of(obj)) {
        std::string_view serial = str(obj, "serial");
        PackRecord& r = writable(*p, serial);
        if (op == "delete") {
          r.deleted = true;
        } else {
          r.deleted = false;
          r.uses_ppn = has_string(obj, "ppn") && !has_string(obj, "gtin");
          const ProductRecord& product = products[*p];
          for (std::uint32_t b = 0; b < product.batches.size(); ++b) {
            if (product.batches[b].batch == str(obj, "batch")) r.batch = b;
          }
          r.status = has_string(obj, "status") ? std::string(str(obj, "status")) : "active";
        }
        if (auto h = change.find("hist"); h != change.end() && h->value().is_object())
          r.history.push_back(history_from(h->value().as_object()));
        if (op == "delete" && !r.deleted) r.deleted = true;
        if (op == "delete" && !(*p < seeded_products && seed->find_pack(*p, serial)))
          uploaded.erase(PackKey{*p, std::string(serial)});
      }
    } else if (type == "aggregation") {
      std::string sscc(str(obj, "sscc"));
      if (op == "delete") aggregations[sscc] = json::array{};
      else if (auto c = obj.find("children"); c != obj.end() && c->value().is_array())
        aggregations[sscc] = c->value().as_array();
    }
    if (!to_feed) return;
    json::object line = obj;
    line["seq"] = change_seq;
    line["op"] = op;
    feed.push_back(FeedEntry{change_seq, json::serialize(line) + "\n"});
    seq = std::max(seq, change_seq);
    while (feed.size() > options.feed_retention) {
      feed_trimmed_to = feed.front().seq;
      feed.pop_front();
    }
  }

  void apply_record(const json::object& record) {
    std::string_view kind = str(record, "k");
    if (kind == "change") {
      apply_change(record);
    } else if (kind == "tx") {
      TxResult result{std::string(str(record, "id")), std::string(str(record, "result")), std::nullopt, std::nullopt};
      if (has_string(record, "code")) result.code = std::string(str(record, "code"));
      if (auto c = record.find("change"); c != record.end() && c->value().is_object())
        if (auto* n = c->value().as_object().if_contains("seq"); n && n->is_number()) result.seq = n->to_number<std::uint64_t>();
      tx_results[result.id] = result;
      TxLog log;
      if (auto r = record.find("request"); r != record.end() && r->value().is_object()) log.request = r->value().as_object();
      log.result = result;
      if (auto t = record.find("received"); t != record.end() && t->value().is_number())
        log.received_ms = t->value().to_number<std::int64_t>();
      tx_log.push_back(std::move(log));
      if (auto c = record.find("change"); c != record.end() && c->value().is_object()) apply_change(c->value().as_object());
    } else if (kind == "alert") {
      json::object alert = record.at("alert").as_object();
      std::string id(str(alert, "id"));
      if (!id.empty()) alert_ids[id] = alerts.size();
      alerts.push_back(std::move(alert));
    }
  }

  // Appends records to the journal and fdatasyncs it (one write per request). A failure leaves the
  // simulator refusing every further change: memory may be ahead of the disk.
  StateResult<bool> write_journal(const std::vector<json::object>& records) {
    if (storage_failed)
      return Unexpected{StateError{StateError::Kind::storage, "the simulator's journal failed earlier; restart it", ""}};
    if (journal_fd < 0 || records.empty()) return true;
    std::string text;
    for (const auto& r : records) {
      text += json::serialize(r);
      text += '\n';
    }
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(journal_fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        storage_failed = true;
        return Unexpected{StateError{StateError::Kind::storage, std::string("journal write failed: ") + std::strerror(errno), ""}};
      }
      done += static_cast<std::size_t>(n);
    }
    if (options.fsync && ::fdatasync(journal_fd) != 0) {
      storage_failed = true;
      return Unexpected{StateError{StateError::Kind::storage, std::string("journal fdatasync failed: ") + std::strerror(errno), ""}};
    }
    return true;
  }

  // Makes records durable, then applies them. The lock is held by the caller.
  StateResult<bool> commit(const std::vector<json::object>& records) {
    auto written = write_journal(records);
    if (!written) return written;
    for (const auto& r : records) apply_record(r);
    return true;
  }

  json::object change_record(json::object obj, std::string_view op, std::optional<HistoryEntry> hist = {}) {
    json::object c;
    c["k"] = "change";
    c["seq"] = ++seq;
    c["op"] = op;
    c["obj"] = std::move(obj);
    if (hist) c["hist"] = history_json(*hist);
    return c;
  }

  std::vector<std::function<void()>> take_waiters() {
    std::vector<std::function<void()>> out;
    for (auto& [id, fn] : waiters) out.push_back(std::move(fn));
    waiters.clear();
    return out;
  }

  // ----- transactions -----

  struct Tx {
    std::string id, code_key, code, serial, batch, expiry, action, location, actor;
    bool undo = false;
    std::int64_t time_ms = 0;
  };

  StateResult<Tx> parse_tx(const json::value& v, std::size_t i) {
    std::string path = fmt::format("transactions[{}]", i);
    if (!v.is_object()) return Unexpected{bad(path, path + " must be an object")};
    const json::object& o = v.as_object();
    for (const auto& kv : o) {
      static constexpr std::array<std::string_view, 10> kKnown{"id",     "gtin",   "ppn",  "serial",   "batch",
                                                              "expiry", "action", "undo", "location", "actor"};
      if (std::find(kKnown.begin(), kKnown.end(), kv.key()) == kKnown.end() && kv.key() != "time")
        return Unexpected{bad(path + "." + std::string(kv.key()), "unknown field '" + path + "." + std::string(kv.key()) + "'")};
    }
    for (auto key : {"id", "gtin", "ppn", "serial", "batch", "expiry", "action", "location", "actor", "time"}) {
      auto it = o.find(key);
      if (it != o.end() && !it->value().is_string() && !it->value().is_null())
        return Unexpected{bad(path + "." + key, path + "." + key + " must be a string")};
    }
    Tx tx;
    tx.id = str(o, "id");
    if (tx.id.empty() || tx.id.size() > 128) return Unexpected{bad(path + ".id", path + ".id must be a string of 1-128 characters")};
    if (has_string(o, "gtin")) {
      tx.code_key = "gtin";
      tx.code = str(o, "gtin");
    } else if (has_string(o, "ppn")) {
      tx.code_key = "ppn";
      tx.code = str(o, "ppn");
    } else {
      return Unexpected{bad(path + ".gtin", path + " needs \"gtin\" or \"ppn\"")};
    }
    tx.serial = str(o, "serial");
    if (tx.serial.empty() || tx.serial.size() > 20)
      return Unexpected{bad(path + ".serial", path + ".serial must be a string of 1-20 characters")};
    tx.batch = str(o, "batch");
    tx.expiry = str(o, "expiry");
    if (!tx.expiry.empty() && !scanner::gs1::expiry_date(tx.expiry, reference_year))
      return Unexpected{bad(path + ".expiry", path + ".expiry must be a date YYMMDD (day 00 allowed)")};
    tx.action = str(o, "action");
    if (tx.action != "verify" && tx.action != "unlock" && status_after(tx.action).empty())
      return Unexpected{bad(path + ".action", path + ".action must be one of verify, supply, destroy, export, sample, "
                                              "free_sample, stolen, lock, unlock")};
    if (auto u = o.find("undo"); u != o.end() && !u->value().is_null()) {
      if (!u->value().is_bool()) return Unexpected{bad(path + ".undo", path + ".undo must be true or false")};
      tx.undo = u->value().get_bool();
    }
    if (tx.action == "unlock") {  // unlock = undo of lock
      tx.action = "lock";
      tx.undo = true;
    }
    if (tx.undo && tx.action == "verify") return Unexpected{bad(path + ".undo", path + ": verify cannot be undone")};
    tx.location = str(o, "location");
    tx.actor = str(o, "actor");
    if (has_string(o, "time")) {
      auto t = parse_rfc3339(str(o, "time"));
      if (!t) return Unexpected{bad(path + ".time", path + ".time must be an RFC 3339 date-time, e.g. 2026-11-27T10:00:00Z")};
      tx.time_ms = *t;
    } else {
      tx.time_ms = now_ms();
    }
    return tx;
  }

  // NMVS-style rules (domain.md "Pack states", "Undo"); returns the code when rejected and fills `change`.
  std::optional<std::string> evaluate(const Tx& tx, std::optional<json::object>& change) {
    auto product = find_product(tx.code);
    if (!product) return "NMVS_NC_PC_01";
    Located loc = locate(*product, tx.serial);
    const PackRecord* pack = loc.get();
    if (!pack) return "NMVS_NC_PC_02";
    const ProductRecord& p = products[*product];
    if (!tx.batch.empty()) {
      if (!p.find_batch(tx.batch)) return "NMVS_FE_LOT_03";
      if (pack->batch >= p.batches.size() || p.batches[pack->batch].batch != tx.batch) return "NMVS_FE_LOT_13";
    }
    const BatchRecord* batch = pack->batch < p.batches.size() ? &p.batches[pack->batch] : nullptr;
    if (!tx.expiry.empty() && batch && batch->expiry != tx.expiry) return "NMVS_FE_LOT_12";
    if (tx.action == "verify") return std::nullopt;
    auto batch_block = [&]() -> std::optional<std::string> {
      if (!batch) return std::nullopt;
      if (batch->state == "recalled") return "NMVS_FE_LOT_01";
      if (batch->state == "withdrawn") return "NMVS_FE_LOT_08";
      auto expiry = expiry_day(batch->expiry, reference_year);
      if (expiry && day_of(tx.time_ms) > *expiry) return "NMVS_NC_PCK_02";  // expiry day itself is still fine
      return std::nullopt;
    };
    std::string target(status_after(tx.action));
    std::string new_status;
    HistoryEntry hist{tx.time_ms, tx.undo ? "undo" : "decommission", tx.action, "", tx.location, tx.actor, tx.id};
    if (!tx.undo) {
      if (pack->status != "active") return pack->status == target ? "NMVS_NC_PCK_19" : "NMVS_NC_PCK_22";
      // Only supply/export/samples need a saleable batch; destroy, stolen and lock take any pack (domain.md).
      if (tx.action != "destroy" && tx.action != "stolen" && tx.action != "lock") {
        if (auto block = batch_block()) return block;
      }
      new_status = target;
    } else {
      if (tx.action == "destroy" || tx.action == "stolen") return "NMVS_NC_PCK_27";  // Art 13: never undone
      if (pack->status != target) return "NMVS_NC_PCK_06";
      const HistoryEntry* last = nullptr;
      for (auto it = pack->history.rbegin(); it != pack->history.rend(); ++it) {
        if (it->event != "verify" && it->event != "undo") {
          last = &*it;
          break;
        }
      }
      if (!last || last->location != tx.location) return "NMVS_NC_PCK_21";
      if (tx.action != "lock") {
        if (tx.time_ms - last->time_ms > kUndoWindowMs) return "NMVS_NC_PCK_20";
        if (auto block = batch_block()) return block;
      }
      new_status = "active";
    }
    hist.status = new_status;
    PackRecord after = *pack;
    after.status = new_status;
    change = change_record(pack_object(*product, tx.serial, after), "upsert", hist);
    return std::nullopt;
  }
};

// ---------------------------------------------------------------------------------------------------------

Central::Central(StateOptions options) : impl_(std::make_unique<Impl>()) { impl_->options = std::move(options); }
Central::~Central() = default;

namespace {

bool write_file_durably(const fs::path& path, const std::string& text, std::string& error) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    error = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    error = "cannot rename " + tmp.string() + ": " + ec.message();
    return false;
  }
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Central>, std::string> Central::open(StateOptions options) {
  std::unique_ptr<Central> central(new Central(options));
  Impl& s = *central->impl_;
  s.reference_year = scanner::gs1::current_year();
  fs::path dir = options.data_dir;
  bool fresh = true;
  std::optional<SeedSpec> spec = options.seed;
  std::string snapshot = options.snapshot_file;
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Unexpected{"--data: cannot create " + dir.string() + ": " + ec.message()};
    if (fs::exists(dir / "meta.json")) {
      fresh = false;
      std::ifstream in(dir / "meta.json");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      boost::system::error_code jec;
      json::value meta = json::parse(text, jec);
      if (jec || !meta.is_object()) return Unexpected{(dir / "meta.json").string() + ": not a JSON object"};
      const json::object& m = meta.as_object();
      spec.reset();
      snapshot.clear();
      if (auto it = m.find("seed"); it != m.end() && it->value().is_object()) {
        const json::object& so = it->value().as_object();
        SeedSpec seed;
        seed.seed = so.at("seed").to_number<std::uint64_t>();
        seed.products = so.at("products").to_number<std::uint32_t>();
        seed.packs = so.at("packs").to_number<std::uint64_t>();
        seed.base_year = so.at("base_year").to_number<int>();
        spec = seed;
      }
      if (m.contains("snapshot")) snapshot = (dir / "base.ndjson").string();
    }
  }
  if (spec) {
    if (fresh) spec->base_year = scanner::gs1::current_year();
    if (spec->products == 0 || spec->products > kMaxProducts)
      return Unexpected{fmt::format("--products must be 1..{}", kMaxProducts)};
    central->seed_ = std::make_unique<Seed>(*spec);
    s.seed = central->seed_.get();
    s.seeded_products = spec->products;
    for (const SeedProduct& sp : s.seed->products()) {
      ProductRecord p{sp.gtin, sp.ppn, sp.name, sp.market, sp.pack_uses_ppn, {}};
      for (const SeedBatch& b : sp.batches) p.batches.push_back(BatchRecord{b.batch, b.expiry, b.state, b.reason, 0});
      s.add_product(std::move(p));
    }
    using namespace std::chrono;
    s.seeded_decommission_ms =
        duration_cast<milliseconds>(sys_days{year{spec->base_year - 1} / 6 / 1}.time_since_epoch()).count();
  }
  if (!snapshot.empty()) {
    std::ifstream in(snapshot, std::ios::binary);
    if (!in) return Unexpected{"--snapshot: cannot read " + snapshot};
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto loaded = central->upload_impl(text, true);
    if (!loaded) return Unexpected{"--snapshot " + snapshot + ": " + loaded.error().message};
    if (fresh && !dir.empty()) {
      std::string error;
      if (!write_file_durably(dir / "base.ndjson", text, error)) return Unexpected{error};
    }
  }
  if (!dir.empty()) {
    if (fresh) {
      json::object meta{{"version", 1}};
      if (spec)
        meta["seed"] = {{"seed", spec->seed}, {"products", spec->products}, {"packs", spec->packs}, {"base_year", spec->base_year}};
      if (!snapshot.empty()) meta["snapshot"] = fs::path(snapshot).filename().string();
      std::string error;
      if (!write_file_durably(dir / "meta.json", json::serialize(meta) + "\n", error)) return Unexpected{error};
    }
    fs::path journal = dir / "journal.ndjson";
    // Replay; a torn last line (crash mid-write, never answered) is cut off.
    std::uint64_t good_bytes = 0;
    if (fs::exists(journal)) {
      std::ifstream in(journal, std::ios::binary);
      std::string line;
      std::uint64_t offset = 0, number = 0;
      while (std::getline(in, line)) {
        ++number;
        bool complete = !in.eof();
        boost::system::error_code jec;
        json::value v = json::parse(line, jec);
        if (!complete || jec || !v.is_object()) {
          if (in.peek() == EOF) break;  // the last line: torn
          return Unexpected{fmt::format("{} line {}: corrupt journal record", journal.string(), number)};
        }
        s.apply_record(v.as_object());
        offset += line.size() + 1;
        good_bytes = offset;
      }
    }
    s.journal_fd = ::open(journal.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (s.journal_fd < 0) return Unexpected{"cannot open " + journal.string() + ": " + std::strerror(errno)};
    if (::ftruncate(s.journal_fd, static_cast<off_t>(good_bytes)) != 0 ||
        ::lseek(s.journal_fd, 0, SEEK_END) < 0)
      return Unexpected{"cannot prepare " + journal.string() + ": " + std::strerror(errno)};
  }
  return central;
}

std::uint64_t Central::seq() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->seq;
}

StateResult<std::vector<TxResult>> Central::apply_transactions(const json::array& transactions) {
  if (transactions.size() > kMaxTransactions)
    return Unexpected{bad("transactions", fmt::format("at most {} transactions per request", kMaxTransactions))};
  Impl& s = *impl_;
  std::vector<Impl::Tx> parsed;
  parsed.reserve(transactions.size());
  {
    std::lock_guard lock(s.mutex);
    for (std::size_t i = 0; i < transactions.size(); ++i) {
      auto tx = s.parse_tx(transactions[i], i);
      if (!tx) return Unexpected{tx.error()};
      parsed.push_back(std::move(*tx));
    }
  }
  std::vector<TxResult> results;
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock(s.mutex);
    if (auto usable = s.write_journal({}); !usable) return Unexpected{usable.error()};  // failed before: change nothing
    std::vector<json::object> records;
    std::int64_t received = now_ms();
    bool changed = false;
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      const Impl::Tx& tx = parsed[i];
      if (auto it = s.tx_results.find(tx.id); it != s.tx_results.end()) {
        results.push_back(it->second);  // idempotent replay: the first result, nothing changes
        continue;
      }
      std::optional<json::object> change;
      auto code = s.evaluate(tx, change);
      TxResult result{tx.id, code ? "rejected" : "accepted", code, std::nullopt};
      json::object record{{"k", "tx"}, {"id", tx.id}, {"result", result.result}, {"received", received},
                          {"request", transactions[i]}};
      if (code) record["code"] = *code;
      else record["code"] = nullptr;
      if (change) {
        record["change"] = std::move(*change);
        changed = true;
      }
      // Applied now so that later entries of the same request see it (supply then undo).
      s.apply_record(record);
      result = s.tx_results[tx.id];  // with the feed seq of its change, if it made one
      records.push_back(std::move(record));
      results.push_back(std::move(result));
    }
    // apply_record ran already (later entries of the request needed it); now the durable write.
    if (auto written = s.write_journal(records); !written) return Unexpected{written.error()};
    if (changed) wake = s.take_waiters();
  }
  for (auto& w : wake) w();
  return results;
}

StateResult<json::object> Central::pack_json(std::string_view code, std::string_view serial) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  auto product = s.find_product(code);
  if (!product) return Unexpected{StateError{StateError::Kind::not_found, "unknown product code " + std::string(code), "code"}};
  auto loc = s.locate(*product, serial);
  const PackRecord* r = loc.get();
  if (!r) return Unexpected{StateError{StateError::Kind::not_found, "no pack with serial " + std::string(serial) + " for product " + std::string(code), "serial"}};
  json::object o = s.pack_object(*product, serial, *r);
  o.erase("type");
  const ProductRecord& p = s.products[*product];
  o["expiry"] = r->batch < p.batches.size() ? p.batches[r->batch].expiry : std::string();
  // The batch as the central system holds it now (a read-through must not store a recalled batch as active),
  // and the feed position this answer is as of: every feed line up to it is reflected here.
  if (r->batch < p.batches.size()) {
    o["batch_state"] = p.batches[r->batch].state;
    if (!p.batches[r->batch].reason.empty()) o["batch_reason"] = p.batches[r->batch].reason;
  }
  o["feed_seq"] = s.seq;
  json::array history;
  for (const auto& h : r->history) history.push_back(history_json(h));
  o["history"] = std::move(history);
  return o;
}

StateResult<json::object> Central::store_alert(json::object alert) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  std::string id(str(alert, "id"));
  if (!id.empty()) {
    if (auto it = s.alert_ids.find(id); it != s.alert_ids.end()) return json::object{{"id", id}, {"stored", false}};
  }
  alert["received"] = format_rfc3339(now_ms());
  auto ok = s.commit({json::object{{"k", "alert"}, {"alert", alert}}});
  if (!ok) return Unexpected{ok.error()};
  return json::object{{"id", id}, {"stored", true}};
}

std::optional<FeedPage> Central::changes(std::uint64_t since, std::size_t limit) const {
  std::uint64_t unused = 0;
  return const_cast<Central*>(this)->changes_or_wait(since, limit, nullptr, unused);
}

std::optional<FeedPage> Central::changes_or_wait(std::uint64_t since, std::size_t limit, std::function<void()> wake,
                                                 std::uint64_t& wait_id) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  wait_id = 0;
  // Gone: older than what the feed keeps, or ahead of it (a feed that was reset): take a new snapshot.
  if (since < s.feed_trimmed_to || since > s.seq) return std::nullopt;
  FeedPage page;
  page.head = s.seq;
  auto it = std::upper_bound(s.feed.begin(), s.feed.end(), since,
                             [](std::uint64_t v, const Impl::FeedEntry& e) { return v < e.seq; });
  for (; it != s.feed.end() && page.lines < limit; ++it) {
    page.body += it->line;
    page.last = it->seq;
    ++page.lines;
  }
  if (page.lines == 0 && wake) {
    wait_id = s.next_waiter++;
    s.waiters.emplace(wait_id, std::move(wake));
  }
  return page;
}

void Central::cancel_wait(std::uint64_t wait_id) {
  std::lock_guard lock(impl_->mutex);
  impl_->waiters.erase(wait_id);
}

void Central::wake_all() {
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock(impl_->mutex);
    wake = impl_->take_waiters();
  }
  for (auto& w : wake) w();
}

Central::SnapshotCursor Central::snapshot_begin() const {
  std::lock_guard lock(impl_->mutex);
  SnapshotCursor c;
  c.seq = impl_->seq;
  return c;
}

void Central::snapshot_next(SnapshotCursor& c, std::string& out, std::size_t budget) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  std::size_t limit = out.size() + budget;
  if (c.phase == 0) {
    for (const auto& p : s.products) out += json::serialize(s.product_object(p)) + "\n";
    for (std::uint32_t i = 0; i < s.products.size(); ++i) {
      for (const auto& b : s.products[i].batches) out += json::serialize(s.batch_object(i, b)) + "\n";
    }
    c.phase = 1;
  }
  if (c.phase == 1) {
    std::uint64_t total = s.seed ? s.seed->spec().packs : 0;
    bool any_changed = !s.seeded_changed.empty();
    // Hot path (10 M packs): seeded codes, batches and serials need no JSON escaping.
    while (c.next_seeded < total && out.size() < limit) {
      std::uint64_t i = c.next_seeded++;
      if (any_changed && s.seeded_changed.count(i)) continue;  // written from its stored state in phase 2
      const SeedProduct& p = s.seed->products()[s.seed->product_of(i)];
      out += "{\"type\":\"pack\",\"";
      out += p.pack_code_key();
      out += "\":\"";
      out += p.pack_code();
      out += "\",\"serial\":\"";
      s.seed->append_serial(i, out);
      out += "\",\"batch\":\"";
      out += p.batches[s.seed->batch_of(i)].batch;
      out += "\",\"status\":\"";
      out += s.seed->status_of(i);
      out += "\"}\n";
    }
    if (c.next_seeded >= total) c.phase = 2;
  }
  if (c.phase == 2) {
    // Stored seeded packs first (few: only those changed since seeding), then uploaded packs by key.
    if (!c.changed_written) {
      for (const auto& [i, r] : s.seeded_changed) {
        if (!r.deleted) out += json::serialize(s.pack_object(s.seed->product_of(i), s.seed->serial_of(i), r)) + "\n";
      }
      c.changed_written = true;
    }
    auto it = c.after_key ? s.uploaded.upper_bound(*c.after_key) : s.uploaded.begin();
    for (; it != s.uploaded.end() && out.size() < limit; ++it) {
      if (!it->second.deleted) out += json::serialize(s.pack_object(it->first.first, it->first.second, it->second)) + "\n";
      c.after_key = it->first;
    }
    if (it == s.uploaded.end()) c.phase = 3;
  }
  if (c.phase == 3) {
    std::uint64_t count = s.seed ? s.seed->aggregation_count() : 0;
    for (std::uint64_t a = 0; a < count; ++a) {
      std::string sscc = s.seed->sscc_of(a);
      if (s.aggregations.count(sscc)) continue;
      json::array children;
      for (std::uint64_t i : s.seed->children_of(a)) {
        const SeedProduct& p = s.seed->products()[s.seed->product_of(i)];
        children.push_back(json::object{{p.pack_code_key(), p.pack_code()}, {"serial", s.seed->serial_of(i)}});
      }
      out += json::serialize(json::object{{"type", "aggregation"}, {"sscc", sscc}, {"children", std::move(children)}}) + "\n";
    }
    c.phase = 4;
  }
  if (c.phase == 4) {
    for (const auto& [sscc, children] : s.aggregations) {
      if (children.empty()) continue;
      out += json::serialize(json::object{{"type", "aggregation"}, {"sscc", sscc}, {"children", children}}) + "\n";
    }
    c.phase = 5;
  }
  if (c.phase == 5) {
    out += fmt::format("{{\"type\":\"end\",\"seq\":{}}}\n", c.seq);
    c.phase = 6;
  }
}


StateResult<UploadCounts> Central::upload_impl(std::string_view ndjson, bool as_base) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  // Pass 1: parse and check every line against the state plus the lines before it (all or nothing).
  std::unordered_map<std::string, std::string> staged_codes;  // code -> product identity
  std::unordered_set<std::string> staged_batches;             // identity "|" batch
  auto identity = [&](const json::object& o) -> std::optional<std::string> {
    for (auto key : {"gtin", "ppn"}) {
      std::string code(str(o, key));
      if (code.empty()) continue;
      if (auto it = staged_codes.find(code); it != staged_codes.end()) return it->second;
      if (auto p = s.find_product(code)) return "P" + std::to_string(*p);
    }
    return std::nullopt;
  };
  auto batch_known = [&](const std::string& id, std::string_view batch) {
    if (staged_batches.count(id + "|" + std::string(batch))) return true;
    if (id[0] == 'P') return s.products[std::stoul(id.substr(1))].find_batch(batch) != nullptr;
    return false;
  };
  std::vector<json::object> objects;
  std::optional<std::uint64_t> end_seq;
  UploadCounts counts;
  std::size_t start = 0, number = 0;
  while (start < ndjson.size()) {
    std::size_t nl = ndjson.find('\n', start);
    if (nl == std::string_view::npos) nl = ndjson.size();
    std::string_view line = ndjson.substr(start, nl - start);
    start = nl + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string where = fmt::format("line {}", number);
    auto fail = [&](std::string field, std::string rule) {
      return Unexpected{bad(field, where + ": " + (field.empty() ? "" : "\"" + field + "\" ") + rule)};
    };
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return fail("", "is not a JSON object");
    if (end_seq) return fail("", "comes after the end line");
    // const: json::object::operator[] reserves room before it looks the key up, so even reading an existing key
    // through it can rehash the object and move short strings that string_views (str()) still point into.
    const json::object& o = v.as_object();
    std::string_view type = str(o, "type");
    for (auto key : {"gtin", "ppn", "serial", "batch", "expiry", "state", "status", "reason", "name", "market", "sscc"}) {
      if (auto it = o.find(key); it != o.end() && !it->value().is_string()) return fail(key, "must be a string");
    }
    for (auto key : {"gtin", "ppn"}) {
      if (has_string(o, key) && !product_code_ok(key, str(o, key)))
        return fail(key, key == std::string_view("gtin") ? "must be a GTIN-14 with a valid check digit"
                                                          : "must be a PPN with valid check characters");
    }
    json::object obj{{"type", type}};
    if (type == "product") {
      if (!has_string(o, "gtin") && !has_string(o, "ppn")) return fail("gtin", "or \"ppn\" is required");
      std::string id = identity(o).value_or("S" + std::string(has_string(o, "gtin") ? str(o, "gtin") : str(o, "ppn")));
      for (auto key : {"gtin", "ppn", "name", "market"}) {
        if (has_string(o, key)) obj[key] = o.at(key);
      }
      for (auto key : {"gtin", "ppn"}) {
        if (has_string(o, key)) staged_codes[std::string(str(o, key))] = id;
      }
      ++counts.products;
    } else if (type == "batch") {
      auto id = identity(o);
      if (!id) return fail("gtin", "names no product given earlier");
      std::string_view batch = str(o, "batch");
      if (!serial_ok(batch)) return fail("batch", "must be 1-20 characters of GS1 character set 82");
      if (!scanner::gs1::expiry_date(str(o, "expiry"), s.reference_year)) return fail("expiry", "must be a date YYMMDD");
      std::string_view state = has_string(o, "state") ? str(o, "state") : "active";
      if (state != "active" && state != "recalled" && state != "withdrawn")
        return fail("state", "must be active, recalled or withdrawn");
      for (auto key : {"gtin", "ppn", "batch", "expiry", "state", "reason"}) {
        if (has_string(o, key)) obj[key] = o.at(key);
      }
      obj["state"] = state;
      if (auto t = o.find("changed_at"); t != o.end() && t->value().is_int64()) obj["changed_at"] = t->value();
      else if (state != "active" && !as_base) obj["changed_at"] = now_ms();  // a recall made now
      staged_batches.insert(*id + "|" + std::string(batch));
      ++counts.batches;
    } else if (type == "pack") {
      auto id = identity(o);
      if (!id) return fail("gtin", "names no product given earlier");
      if (!serial_ok(str(o, "serial"))) return fail("serial", "must be 1-20 characters of GS1 character set 82");
      if (!batch_known(*id, str(o, "batch"))) return fail("batch", "names no batch of this product given earlier");
      std::string_view status = has_string(o, "status") ? str(o, "status") : "active";
      if (!is_status(status)) return fail("status", "must be one of active, supplied, destroyed, exported, sample, free_sample, stolen, locked");
      obj[has_string(o, "ppn") && !has_string(o, "gtin") ? "ppn" : "gtin"] = has_string(o, "gtin") ? o.at("gtin") : o.at("ppn");
      obj["serial"] = o.at("serial");
      obj["batch"] = o.at("batch");
      obj["status"] = status;
      ++counts.packs;
    } else if (type == "aggregation") {
      std::string_view sscc = str(o, "sscc");
      if (sscc.size() != 18 || !scanner::gs1::check_digit_ok(sscc)) return fail("sscc", "must be an SSCC: 18 digits with a valid check digit");
      auto c = o.find("children");
      if (c == o.end() || !c->value().is_array()) return fail("children", "must be an array");
      json::array children;
      for (const auto& child : c->value().as_array()) {
        if (!child.is_object()) return fail("children", "entries must be objects");
        const json::object& co = child.as_object();
        bool gtin = has_string(co, "gtin");
        std::string_view code = gtin ? str(co, "gtin") : str(co, "ppn");
        if (code.empty() || !serial_ok(str(co, "serial"))) return fail("children", "entries need \"gtin\" or \"ppn\" and \"serial\"");
        children.push_back(json::object{{gtin ? "gtin" : "ppn", code}, {"serial", str(co, "serial")}});
      }
      obj["sscc"] = sscc;
      obj["children"] = std::move(children);
      ++counts.aggregations;
    } else if (type == "end") {
      auto q = o.find("seq");
      if (q == o.end() || !(q->value().is_uint64() || (q->value().is_int64() && q->value().get_int64() >= 0)))
        return fail("seq", "must be a non-negative integer");
      end_seq = q->value().to_number<std::uint64_t>();
      continue;
    } else {
      return fail("type", "must be product, batch, pack, aggregation or end");
    }
    objects.push_back(std::move(obj));
  }
  // Pass 2: apply.
  if (as_base) {
    for (auto& obj : objects) s.apply_change(json::object{{"seq", 0}, {"op", "upsert"}, {"obj", std::move(obj)}}, false);
    if (end_seq) s.seq = *end_seq;
    counts.seq = s.seq;
    return counts;
  }
  std::vector<json::object> records;
  records.reserve(objects.size());
  std::int64_t now = now_ms();
  for (auto& obj : objects) {
    std::optional<HistoryEntry> hist;
    if (str(obj, "type") == "pack") hist = HistoryEntry{now, "upload", "", std::string(str(obj, "status")), "", "admin", ""};
    records.push_back(s.change_record(std::move(obj), "upsert", hist));
  }
  auto ok = s.commit(records);
  if (!ok) return Unexpected{ok.error()};
  counts.seq = s.seq;
  auto wake = s.take_waiters();
  lock.unlock();
  for (auto& w : wake) w();
  return counts;
}

StateResult<UploadCounts> Central::upload(std::string_view ndjson) { return upload_impl(ndjson, false); }

StateResult<json::object> Central::set_batch_state(std::string_view code, std::string_view batch, std::string_view state,
                                                   std::string reason) {
  if (state != "active" && state != "recalled" && state != "withdrawn")
    return Unexpected{bad("state", "state must be active, recalled or withdrawn")};
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  auto product = s.find_product(code);
  if (!product) return Unexpected{StateError{StateError::Kind::not_found, "unknown product code " + std::string(code), "code"}};
  const BatchRecord* b = s.products[*product].find_batch(batch);
  if (!b) return Unexpected{StateError{StateError::Kind::not_found, "product " + std::string(code) + " has no batch " + std::string(batch), "batch"}};
  BatchRecord next = *b;
  next.state = state;
  next.reason = state == "active" ? std::string() : std::move(reason);
  next.changed_at_ms = now_ms();
  json::object record = s.change_record(s.batch_object(*product, next), "upsert");
  auto ok = s.commit({record});
  if (!ok) return Unexpected{ok.error()};
  json::object out = s.batch_object(*product, next);
  out["seq"] = s.seq;
  auto wake = s.take_waiters();
  lock.unlock();
  for (auto& w : wake) w();
  return out;
}

StateResult<json::object> Central::set_pack_status(std::string_view code, std::string_view serial, std::string_view status,
                                                   std::string location, std::string actor, bool any_status,
                                                   std::string transaction) {
  const bool printable = !status.empty() && status.size() <= 64 &&
                         std::all_of(status.begin(), status.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (any_status && !printable) return Unexpected{bad("status", "with \"any_status\" the status must be 1-64 printable characters")};
  if (!any_status && !is_status(status))
    return Unexpected{bad("status", "status must be one of active, supplied, destroyed, exported, sample, free_sample, stolen, locked")};
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  auto product = s.find_product(code);
  if (!product) return Unexpected{StateError{StateError::Kind::not_found, "unknown product code " + std::string(code), "code"}};
  auto loc = s.locate(*product, serial);
  if (!loc.get()) return Unexpected{StateError{StateError::Kind::not_found, "no pack with serial " + std::string(serial), "serial"}};
  PackRecord next = *loc.get();
  next.status = status;
  HistoryEntry hist{now_ms(), "elsewhere", std::string(action_for(status)), std::string(status), std::move(location),
                    std::move(actor), std::move(transaction)};
  json::object record = s.change_record(s.pack_object(*product, serial, next), "upsert", hist);
  auto ok = s.commit({record});
  if (!ok) return Unexpected{ok.error()};
  json::object out = s.pack_object(*product, serial, next);
  out["seq"] = s.seq;
  auto wake = s.take_waiters();
  lock.unlock();
  for (auto& w : wake) w();
  return out;
}

StateResult<json::object> Central::delete_pack(std::string_view code, std::string_view serial) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  auto product = s.find_product(code);
  if (!product) return Unexpected{StateError{StateError::Kind::not_found, "unknown product code " + std::string(code), "code"}};
  auto loc = s.locate(*product, serial);
  if (!loc.get()) return Unexpected{StateError{StateError::Kind::not_found, "no pack with serial " + std::string(serial), "serial"}};
  json::object obj = s.pack_object(*product, serial, *loc.get());
  obj.erase("batch");
  obj.erase("status");
  json::object record = s.change_record(obj, "delete");
  auto ok = s.commit({record});
  if (!ok) return Unexpected{ok.error()};
  obj["seq"] = s.seq;
  obj["op"] = "delete";
  auto wake = s.take_waiters();
  lock.unlock();
  for (auto& w : wake) w();
  return obj;
}

json::object Central::transactions_json(std::size_t limit, std::string_view id) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  json::array list;
  std::size_t from = s.tx_log.size() > limit ? s.tx_log.size() - limit : 0;
  for (std::size_t i = id.empty() ? from : 0; i < s.tx_log.size(); ++i) {
    const TxLog& t = s.tx_log[i];
    if (!id.empty() && t.result.id != id) continue;
    json::object o{{"id", t.result.id}, {"result", t.result.result}, {"received", format_rfc3339(t.received_ms)},
                   {"request", t.request}};
    if (t.result.code) o["code"] = *t.result.code;
    else o["code"] = nullptr;
    list.push_back(std::move(o));
  }
  return {{"total", s.tx_log.size()}, {"transactions", std::move(list)}};
}

json::object Central::alerts_json(std::size_t limit) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  json::array list;
  std::size_t from = s.alerts.size() > limit ? s.alerts.size() - limit : 0;
  for (std::size_t i = from; i < s.alerts.size(); ++i) list.push_back(s.alerts[i]);
  return {{"total", s.alerts.size()}, {"alerts", std::move(list)}};
}

json::object Central::status_json() const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  json::object o{{"seq", s.seq},
                 {"feed_oldest", s.feed_trimmed_to},
                 {"products", s.products.size()},
                 {"seeded_packs", s.seed ? s.seed->spec().packs : 0},
                 {"uploaded_packs", s.uploaded.size()},
                 {"changed_packs", s.seeded_changed.size()},
                 {"transactions", s.tx_log.size()},
                 {"alerts", s.alerts.size()},
                 {"persistent", s.journal_fd >= 0},
                 {"storage_failed", s.storage_failed}};
  if (s.seed) {
    const SeedSpec& spec = s.seed->spec();
    o["seed"] = {{"seed", spec.seed}, {"products", spec.products}, {"packs", spec.packs}, {"base_year", spec.base_year},
                 {"aggregations", s.seed->aggregation_count()}};
  }
  return o;
}

std::vector<json::object> Central::usable_packs(std::size_t n, bool scan_text) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  std::vector<json::object> out;
  std::int64_t today = day_of(now_ms());
  auto consider = [&](std::uint32_t product, const std::string& serial, const PackRecord& r) {
    const ProductRecord& p = s.products[product];
    if (r.deleted || r.status != "active" || r.batch >= p.batches.size()) return;
    const BatchRecord& b = p.batches[r.batch];
    auto expiry = expiry_day(b.expiry, s.reference_year);
    if (b.state != "active" || !expiry || *expiry < today) return;
    json::object o = s.pack_object(product, serial, r);
    o["expiry"] = b.expiry;
    o["name"] = p.name;
    if (scan_text) {
      scanner::PackId id;
      bool ppn = o.contains("ppn");
      id.scheme = ppn ? scanner::Scheme::ppn : scanner::Scheme::gs1;
      (ppn ? id.ppn : id.gtin) = ppn ? p.ppn : p.gtin;
      id.serial = serial;
      id.batch = b.batch;
      id.expiry = b.expiry;
      // What a scanner sends: the GS1 element string (GS = 0x1D) or the IFA format 06 envelope.
      o["scan"] = ppn ? scanner::ppn::format06_envelope(id) : scanner::gs1::element_string(id);
    }
    out.push_back(std::move(o));
  };
  std::uint64_t total = s.seed ? s.seed->spec().packs : 0;
  for (std::uint64_t i = 0; i < total && out.size() < n; ++i) {
    auto it = s.seeded_changed.find(i);
    std::uint32_t product = s.seed->product_of(i);
    if (it != s.seeded_changed.end()) consider(product, s.seed->serial_of(i), it->second);
    else if (s.seed->status_of(i) == "active") consider(product, s.seed->serial_of(i), s.seeded_record(i));
  }
  for (auto it = s.uploaded.begin(); it != s.uploaded.end() && out.size() < n; ++it)
    consider(it->first.first, it->first.second, it->second);
  return out;
}

}  // namespace vpoint::central_sim
