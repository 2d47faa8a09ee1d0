#pragma once
// Verdict rules of a pack operation: pure functions of the scanned pack, the product/batch the mirror knows
// and the mirror's PackResult. No sockets, no Redis (style.md "Pure cores, thin shells").
//
// One operation is ONE Redis round trip: plan() decides, from the product cache alone, which mirror call to
// make (the operation itself, or only a verify when the batch already rules the operation out), and
// decide() turns the mirror's answer into the verdict every implementation must give (issue 5 "Verdicts").
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/offline.hpp"
#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/pack_id.hpp"

namespace vpoint::service {

enum class Verdict : std::uint8_t {
  ok,       // may proceed
  refused,  // must not be supplied, no sign of falsification (expired, recalled, locked, ...)
  alert,    // possible falsification: an alert is raised
  // The mirror does not know the pack and the central system could not confirm it (unreachable, or earlier
  // offline scans of the pack still wait for it): never ok (issue 12); the counter follows the national
  // procedure for outages (EU 2016/161 Art 29).
  unconfirmed,
};
std::string_view to_string(Verdict verdict);

// Stable reason codes of the API (issue 5). Never renumber, never reuse.
enum class Reason : std::uint8_t {
  none = 0,
  unknown_product = 1,
  unknown_serial = 2,
  unknown_batch = 3,
  batch_mismatch = 4,
  expiry_mismatch = 5,
  already_inactive = 6,
  status_conflict = 7,
  expired = 8,
  recalled = 9,
  withdrawn = 10,
  locked = 11,
  undo_window_passed = 12,
  undo_other_location = 13,
  undo_not_allowed = 14,
  undo_status_mismatch = 15,
  parse_error = 16,
  mirror_unavailable = 17,
  central_unavailable = 18,
  idempotency_conflict = 19,
  offline_pending = 20,     // offline scans of this pack wait for the central system: this one joins them
  read_through_limit = 21,  // bulk: more unknown packs than [central] bulk_read_through_max; not looked up
  // The central system gave the pack a status, or its batch a state, that this build does not know: refused
  // whatever the operation (never read as active), the raw value in the answer (issue 14).
  unknown_central_status = 22,
  deadline = 23,  // bulk: [http] bulk_deadline_s passed before this unknown pack was looked up centrally
};
// "unknown_serial", ...; none -> "" (JSON null).
std::string_view to_string(Reason reason);

// The pack's state as the API reports it: the pack's own status, or "unknown".
std::string_view status_name(std::optional<cache::PackStatus> status);

struct Decision {
  Verdict verdict = Verdict::ok;
  Reason reason = Reason::none;
  std::string_view nmvs_code;  // "" when none (domain.md table)
  bool repeat = false;         // same location repeating a decommission within repeat_window
};

// What the service compares against the batch it knows (from the scan and the product cache).
struct BatchCheck {
  const cache::Batch* batch = nullptr;  // the scanned batch in the product's batch list; nullptr = unknown
  bool expiry_matches = true;           // scanned expiry == the batch's expiry
  bool expired = false;                 // the batch's expiry day has passed (inclusive: usable through it)
};

// Looks the scanned batch up in the product and compares expiry; `today` is the local calendar day.
BatchCheck check_batch(const cache::Product& product, const scanner::PackId& pack,
                       const scanner::gs1::Date& today);

// Two YYMMDD expiries name the same day (day 00 resolved to the month's last day).
bool same_expiry(std::string_view a, std::string_view b, int reference_year);

// Expiry is inclusive: a pack may be used through its expiry day; day 00 = last day of the month.
bool is_expired(std::string_view yymmdd, const scanner::gs1::Date& today);

// The transaction being asked for.
struct Intent {
  cache::Operation operation = cache::Operation::verify;
  cache::Action action = cache::Action::supply;  // decommission / undo
};

// Whether the batch state rules out the intended operation before any change (destroy and stolen stay
// allowed for expired/recalled/withdrawn packs; supply, export and samples do not; undo is refused).
std::optional<Reason> batch_forbids(const Intent& intent, const BatchCheck& batch);

// The mirror call to make for one scanned pack of a known product.
struct Plan {
  // Call only verify (state unchanged) because the answer is already decided by the batch; `pending` is
  // the reason that will be reported (unknown_batch, expiry_mismatch, expired, recalled, withdrawn).
  bool verify_only = false;
  std::optional<Reason> pending;
  // Decommission/undo only if the pack's stored batch is this one (PackRequest::expected_batch_index): a pack
  // whose serial belongs to another batch must not change state (NMVS_FE_LOT_13).
  std::optional<std::uint32_t> expected_batch_index;
};
Plan plan(const Intent& intent, const BatchCheck& batch);

struct DecideInput {
  Intent intent;
  Plan plan;
  BatchCheck batch;
  const cache::PackResult* result = nullptr;  // the mirror's answer (required)
  cache::Caller caller;
  std::chrono::seconds repeat_window{30};
};

// The verdict for a known product (unknown product: decide_unknown_product()).
Decision decide(const DecideInput& input);
Decision decide_unknown_product();

// A pack the central system could not confirm (issue 12), from what the offline queue decided
// (cache::OfflineQueue::record): never ok. Recorded -> unconfirmed (`why`); a decommission while one is
// pending -> unconfirmed with repeat; an undo that does not match the pending offline decommission -> refused
// with the undo reason (no alert: nothing about the pack itself is known).
Decision decide_offline(const cache::OfflineResult& result, Reason why);

// NMVS return code for a reason (domain.md); "" when none. `same_status`: the requested status was
// already set (NMVS_NC_PCK_19 instead of _22).
std::string_view nmvs_code(Reason reason, bool same_status = false);

}  // namespace vpoint::service
