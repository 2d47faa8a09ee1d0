// Text forms of the mirror's enums (JSON, NDJSON snapshots, streams, logs).
#include <array>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache {
namespace {

// Index = PackStatus value; 9..14 are unused numbers, 15 is PackStatus::unknown.
constexpr std::array<std::string_view, 9> kStatusNames = {
    "active", "supplied", "destroyed", "exported", "sample", "free_sample", "stolen", "locked", "checked_out"};
constexpr std::array<std::string_view, 8> kActionNames = {
    "", "supply", "destroy", "export", "sample", "free_sample", "stolen", "lock"};
constexpr std::array<std::string_view, 3> kBatchStateNames = {"active", "recalled", "withdrawn"};
constexpr std::array<std::string_view, 11> kOutcomeNames = {
    "ok", "unknown_product", "unknown_serial", "already_inactive", "undo_window_passed",
    "undo_other_location", "undo_not_allowed", "undo_status_mismatch", "undo_no_record",
    "idempotency_conflict", "batch_mismatch"};

}  // namespace

std::string_view to_string(PackStatus status) {
  auto i = static_cast<std::size_t>(status);
  return i < kStatusNames.size() ? kStatusNames[i] : std::string_view("unknown");
}
std::string_view to_string(Action action) { return kActionNames.at(static_cast<std::size_t>(action)); }
std::string_view to_string(BatchState state) {
  auto i = static_cast<std::size_t>(state);
  return i < kBatchStateNames.size() ? kBatchStateNames[i] : std::string_view("unknown");
}
std::string_view to_string(Outcome outcome) { return kOutcomeNames.at(static_cast<std::size_t>(outcome)); }

std::string_view to_string(Operation operation) {
  return operation == Operation::verify ? "verify" : operation == Operation::undo ? "undo" : "decommission";
}

std::optional<PackStatus> parse_pack_status(std::string_view text) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == text) return static_cast<PackStatus>(i);
  }
  return std::nullopt;
}

std::optional<Action> parse_action(std::string_view text) {
  for (std::size_t i = 1; i < kActionNames.size(); ++i) {
    if (kActionNames[i] == text) return static_cast<Action>(i);
  }
  return std::nullopt;
}

std::optional<BatchState> parse_batch_state(std::string_view text) {
  for (std::size_t i = 0; i < kBatchStateNames.size(); ++i) {
    if (kBatchStateNames[i] == text) return static_cast<BatchState>(i);
  }
  return std::nullopt;
}

PackStatus status_after(Action action) { return static_cast<PackStatus>(static_cast<std::uint8_t>(action)); }

const Batch* Product::find_batch(std::string_view batch) const {
  for (const auto& b : batches) {
    if (b.batch == batch) return &b;
  }
  return nullptr;
}

}  // namespace vpoint::cache
