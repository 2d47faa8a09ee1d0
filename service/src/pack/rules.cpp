#include "vpoint/service/rules.hpp"

namespace vpoint::service {

using cache::Action;
using cache::BatchState;
using cache::Operation;
using cache::Outcome;
using cache::PackStatus;

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return "ok";
    case Verdict::refused: return "refused";
    case Verdict::alert: return "alert";
    case Verdict::unconfirmed: return "unconfirmed";
  }
  return "refused";
}

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::none: return "";
    case Reason::unknown_product: return "unknown_product";
    case Reason::unknown_serial: return "unknown_serial";
    case Reason::unknown_batch: return "unknown_batch";
    case Reason::batch_mismatch: return "batch_mismatch";
    case Reason::expiry_mismatch: return "expiry_mismatch";
    case Reason::already_inactive: return "already_inactive";
    case Reason::status_conflict: return "status_conflict";
    case Reason::expired: return "expired";
    case Reason::recalled: return "recalled";
    case Reason::withdrawn: return "withdrawn";
    case Reason::locked: return "locked";
    case Reason::undo_window_passed: return "undo_window_passed";
    case Reason::undo_other_location: return "undo_other_location";
    case Reason::undo_not_allowed: return "undo_not_allowed";
    case Reason::undo_status_mismatch: return "undo_status_mismatch";
    case Reason::parse_error: return "parse_error";
    case Reason::mirror_unavailable: return "mirror_unavailable";
    case Reason::central_unavailable: return "central_unavailable";
    case Reason::idempotency_conflict: return "idempotency_conflict";
    case Reason::offline_pending: return "offline_pending";
    case Reason::read_through_limit: return "read_through_limit";
    case Reason::unknown_central_status: return "unknown_central_status";
    case Reason::deadline: return "deadline";
  }
  return "";
}

std::string_view status_name(std::optional<PackStatus> status) {
  return status ? cache::to_string(*status) : std::string_view("unknown");
}

// domain.md "Alerts" table.
std::string_view nmvs_code(Reason reason, bool same_status) {
  switch (reason) {
    case Reason::unknown_product: return "NMVS_NC_PC_01";
    case Reason::unknown_serial: return "NMVS_NC_PC_02";
    case Reason::unknown_batch: return "NMVS_FE_LOT_03";
    case Reason::expiry_mismatch: return "NMVS_FE_LOT_12";
    case Reason::batch_mismatch: return "NMVS_FE_LOT_13";
    case Reason::already_inactive: return same_status ? "NMVS_NC_PCK_19" : "NMVS_NC_PCK_22";
    case Reason::status_conflict: return "NMVS_NC_PCK_27";
    case Reason::undo_not_allowed: return "NMVS_NC_PCK_27";
    case Reason::undo_status_mismatch: return "NMVS_NC_PCK_06";
    case Reason::undo_window_passed: return "NMVS_NC_PCK_20";
    case Reason::undo_other_location: return "NMVS_NC_PCK_21";
    case Reason::recalled: return "NMVS_FE_LOT_01";
    case Reason::withdrawn: return "NMVS_FE_LOT_08";
    case Reason::expired: return "NMVS_NC_PCK_02";
    case Reason::idempotency_conflict: return "NMVS_TE_TX_01";
    default: return "";
  }
}

bool is_expired(std::string_view yymmdd, const scanner::gs1::Date& today) {
  auto expiry = scanner::gs1::expiry_date(yymmdd, today.year);
  if (!expiry) return false;  // the parser rejects bad dates; a bad stored date must not block dispensing
  auto key = [](const scanner::gs1::Date& d) { return d.year * 10000 + d.month * 100 + d.day; };
  return key(today) > key(*expiry);  // usable through the expiry day itself
}

bool same_expiry(std::string_view a, std::string_view b, int reference_year) {
  if (a == b) return true;
  auto da = scanner::gs1::expiry_date(a, reference_year);
  auto db = scanner::gs1::expiry_date(b, reference_year);
  return da && db && *da == *db;
}

BatchCheck check_batch(const cache::Product& product, const scanner::PackId& pack,
                       const scanner::gs1::Date& today) {
  BatchCheck check;
  check.batch = product.find_batch(pack.batch);
  if (check.batch == nullptr) return check;
  // Compare the dates, not the text: GS1 day 00 means the month's last day, so "270600" printed on the pack
  // and "270630" in the central system name the same expiry (domain.md "The unique identifier").
  check.expiry_matches = same_expiry(check.batch->expiry, pack.expiry, today.year);
  check.expired = is_expired(check.batch->expiry, today);
  return check;
}

namespace {

// Supply, export and samples need a saleable pack; destroy and stolen are how such stock leaves the chain
// (domain.md "Pack states"); lock only blocks the pack.
bool needs_saleable(Action action) {
  switch (action) {
    case Action::supply:
    case Action::export_:
    case Action::sample:
    case Action::free_sample: return true;
    case Action::destroy:
    case Action::stolen:
    case Action::lock: return false;
  }
  return true;
}

std::optional<Reason> batch_state_reason(const BatchCheck& batch) {
  if (batch.batch == nullptr) return std::nullopt;
  if (batch.batch->state == BatchState::unknown) return Reason::unknown_central_status;
  if (batch.batch->state == BatchState::recalled) return Reason::recalled;
  if (batch.batch->state == BatchState::withdrawn) return Reason::withdrawn;
  if (batch.expired) return Reason::expired;
  return std::nullopt;
}

Decision make(Verdict verdict, Reason reason, bool same_status = false) {
  return Decision{verdict, reason, nmvs_code(reason, same_status), false};
}

}  // namespace

std::optional<Reason> batch_forbids(const Intent& intent, const BatchCheck& batch) {
  auto reason = batch_state_reason(batch);
  if (!reason) return std::nullopt;
  // A state vpoint does not understand allows nothing, destroy and unlock included.
  if (*reason == Reason::unknown_central_status) return reason;
  switch (intent.operation) {
    case Operation::verify: return std::nullopt;  // verify reports it, decide() sets the verdict
    case Operation::decommission: return needs_saleable(intent.action) ? reason : std::nullopt;
    // EU 2016/161 Art 13(1)(c),(d): an expired, recalled or withdrawn pack does not go back to stock.
    // Unlock stays possible: the pack keeps its batch state and every later scan still refuses it.
    case Operation::undo: return intent.action == Action::lock ? std::nullopt : reason;
  }
  return std::nullopt;
}

Plan plan(const Intent& intent, const BatchCheck& batch) {
  Plan p;
  if (intent.operation == Operation::verify) return p;
  if (batch.batch == nullptr) {
    p.verify_only = true;
    p.pending = Reason::unknown_batch;
  } else if (!batch.expiry_matches) {
    p.verify_only = true;
    p.pending = Reason::expiry_mismatch;
  } else if (auto forbidden = batch_forbids(intent, batch)) {
    p.verify_only = true;
    p.pending = forbidden;
  } else {
    p.expected_batch_index = batch.batch->index;
  }
  return p;
}

Decision decide_unknown_product() {
  // Not an alert: the pack may belong to another market (domain.md).
  return make(Verdict::refused, Reason::unknown_product);
}

Decision decide(const DecideInput& in) {
  const cache::PackResult& r = *in.result;
  switch (r.outcome) {
    case Outcome::unknown_product: return decide_unknown_product();
    case Outcome::unknown_serial: return make(Verdict::alert, Reason::unknown_serial);
    case Outcome::idempotency_conflict: return make(Verdict::refused, Reason::idempotency_conflict);
    default: break;
  }
  // The batch the scan names must exist, carry the printed expiry and be the serial's own batch.
  if (in.batch.batch == nullptr) return make(Verdict::alert, Reason::unknown_batch);
  if (r.outcome == Outcome::batch_mismatch ||
      (r.batch_index && *r.batch_index != in.batch.batch->index))
    return make(Verdict::alert, Reason::batch_mismatch);
  if (!in.batch.expiry_matches) return make(Verdict::alert, Reason::expiry_mismatch);
  if (in.plan.verify_only && in.plan.pending) return make(Verdict::refused, *in.plan.pending);
  // A status vpoint does not understand: refused whatever was asked, never an alert, never ok.
  if (r.previous == PackStatus::unknown || r.status == PackStatus::unknown)
    return make(Verdict::refused, Reason::unknown_central_status);

  const bool active = r.previous == PackStatus::active;
  switch (in.intent.operation) {
    case Operation::verify: {
      if (r.previous == PackStatus::locked) return make(Verdict::refused, Reason::locked);
      if (!active) return make(Verdict::refused, Reason::already_inactive);  // nobody tried to hand it out
      if (auto reason = batch_state_reason(in.batch)) return make(Verdict::refused, *reason);
      return make(Verdict::ok, Reason::none);
    }
    case Operation::decommission: {
      if (r.outcome == Outcome::ok) return make(Verdict::ok, Reason::none);
      if (r.previous == PackStatus::locked) return make(Verdict::refused, Reason::locked);
      const bool same_status = r.previous == cache::status_after(in.intent.action);
      // A handheld scanning the same pack twice: answered as "already supplied here", not as a counterfeit.
      // Only when the pack is still in the state that decommission left it in (the record is the current one).
      if (same_status && r.last_decommission && r.last_decommission->location == in.caller.location &&
          r.last_decommission->action == in.intent.action &&
          r.redis_time_ms - r.last_decommission->time_ms <=
              std::chrono::duration_cast<std::chrono::milliseconds>(in.repeat_window).count()) {
        Decision d = make(Verdict::refused, Reason::already_inactive, same_status);
        d.repeat = true;
        return d;
      }
      // Inactive through expiry/recall/withdrawal is no sign of falsification.
      if (batch_state_reason(in.batch)) return make(Verdict::refused, Reason::already_inactive, same_status);
      return make(Verdict::alert, Reason::already_inactive, same_status);
    }
    case Operation::undo: {
      switch (r.outcome) {
        case Outcome::ok: return make(Verdict::ok, Reason::none);
        case Outcome::undo_window_passed: return make(Verdict::alert, Reason::undo_window_passed);
        case Outcome::undo_other_location: return make(Verdict::alert, Reason::undo_other_location);
        // Decommissioned by the central system (another site), not here: undo belongs to that site.
        case Outcome::undo_no_record: return make(Verdict::alert, Reason::undo_other_location);
        case Outcome::undo_not_allowed: return make(Verdict::alert, Reason::undo_not_allowed);
        case Outcome::undo_status_mismatch: return make(Verdict::alert, Reason::undo_status_mismatch);
        default: return make(Verdict::alert, Reason::status_conflict);
      }
    }
  }
  return make(Verdict::refused, Reason::status_conflict);
}

Decision decide_offline(const cache::OfflineResult& result, Reason why) {
  auto refused = [](Reason reason) { return Decision{Verdict::refused, reason, nmvs_code(reason), false}; };
  switch (result.outcome) {
    case Outcome::ok: return Decision{Verdict::unconfirmed, why, {}, false};
    case Outcome::already_inactive: return Decision{Verdict::unconfirmed, why, {}, true};
    case Outcome::undo_not_allowed: return refused(Reason::undo_not_allowed);
    case Outcome::undo_status_mismatch: return refused(Reason::undo_status_mismatch);
    case Outcome::undo_other_location: return refused(Reason::undo_other_location);
    case Outcome::undo_window_passed: return refused(Reason::undo_window_passed);
    default: break;
  }
  return refused(Reason::status_conflict);
}

}  // namespace vpoint::service
