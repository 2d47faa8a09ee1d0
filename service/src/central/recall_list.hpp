#pragma once
// The pack list of a recall alert (issue 6 "Recalls"): which packs of a product this site received or
// verified in the lookback window, gathered from the audit trail (the streams au:{P} and the daily archive
// files). The audit entries carry no batch: the caller peeks each pack (Mirror::peek_many) and keeps those of
// the recalled batch. Internal to service/src/central/.
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vpoint/scanner/result.hpp"

namespace vpoint::service::central_detail {

// One pack as the audit trail saw it at this site.
struct PackSighting {
  std::string code;    // product code as the mirror keyed it
  std::string serial;
  std::int64_t last_seen_ms = 0;
  std::vector<std::string> ops;  // distinct operations, first occurrence first: verify, supply, undo_supply, ...
};

class RecallCollector {
 public:
  // `codes`: every code of the recalled product (GTIN and PPN); `location`: this site's GLN ("" = any).
  RecallCollector(std::set<std::string> codes, std::string location);

  // Whether an entry is about the product at this site (cheap checks first).
  bool wants(std::string_view code, std::string_view location) const;
  // Records one entry that wants() accepted. `op` as op_name() gives it.
  void add(std::string_view code, std::string_view serial, std::string op, std::int64_t time_ms);

  // Most recently seen first.
  std::vector<PackSighting> sightings() const;
  std::size_t size() const { return packs_.size(); }
  const std::set<std::string>& codes() const { return codes_; }

 private:
  std::set<std::string> codes_;
  std::string location_;
  std::map<std::pair<std::string, std::string>, PackSighting> packs_;
};

// The operation of an audit record or archive line (operation verify|decommission|undo and action name):
// "verify", "supply", "undo_supply", ...
std::string op_name_of(std::string_view operation, std::string_view action);

// A refused look-up of a pack the mirror does not know is no sighting of a pack of the batch.
bool outcome_counts(std::string_view outcome_name);

// Reads the archive files audit-YYYY-MM-DD.ndjson under `dir` whose day is not before the day of
// `since_ms`, and adds every line of the product at this site with an id at or after since_ms. A missing
// directory is no error (no archive yet). Returns the number of lines added, or the file and OS message.
Result<std::size_t, std::string> scan_audit_archive(const std::filesystem::path& dir, std::int64_t since_ms,
                                                    RecallCollector& collector);

}  // namespace vpoint::service::central_detail
