#pragma once
// Procedural seed data of the central simulator. Every seeded product, batch, pack and aggregation is a
// pure function of (seed, index): 10 M packs cost no memory and start instantly, and the same seed always
// gives the same data. Only changes made later (transactions, admin) are stored, by the state.
//
// Realism (domain.md): GTIN-14 with GS1 check digits; a quarter of the products German (PZN-8 with its
// mod-11 check, PPN "11"+PZN+mod-97 check characters, NTIN "04150"+PZN+check), half of those coded with the
// PPN (IFA format) and half with the NTIN (GS1 format); 2-4 batches per product, expiry YYMMDD mostly in the
// future, some in the past, some with day 00; a few recalled / withdrawn batches; serials of 12-20
// characters [0-9A-Za-z]; cases (SSCC with check digit) of 16 packs of one product.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpoint::central_sim {

// Pack statuses and actions use cache/mirror.hpp's text forms ("supplied", "free_sample", ...).
struct SeedSpec {
  std::uint64_t seed = 1;        // --seed
  std::uint32_t products = 50;   // --products (1..262144: the mirror's product index limit)
  std::uint64_t packs = 10000;   // --packs
  int base_year = 2026;          // expiry years are relative to it; fixed when the data dir is created
};

inline constexpr std::uint32_t kMaxProducts = 262144;
inline constexpr std::uint32_t kCaseSize = 16;  // packs per seeded aggregation (one product)

struct SeedBatch {
  std::string batch;
  std::string expiry;   // YYMMDD
  std::string state;    // "active" | "recalled" | "withdrawn"
  std::string reason;   // recall / withdrawal reason
};

struct SeedProduct {
  std::string gtin;         // GTIN-14 (NTIN for German GS1-coded and IFA-coded products alike)
  std::string ppn;          // German products only
  bool pack_uses_ppn = false;  // the packs carry the PPN (IFA format) instead of the GTIN
  std::string name;
  std::string market;
  std::vector<SeedBatch> batches;

  // The code printed on this product's packs and named in pack lines: "ppn" or "gtin".
  std::string_view pack_code_key() const { return pack_uses_ppn ? "ppn" : "gtin"; }
  const std::string& pack_code() const { return pack_uses_ppn ? ppn : gtin; }
};

// The seeded location that "already decommissioned" seeded packs (GLN with check digit).
inline constexpr std::string_view kSeedLocation = "4012345000009";

class Seed {
 public:
  explicit Seed(SeedSpec spec);
  const SeedSpec& spec() const { return spec_; }
  const std::vector<SeedProduct>& products() const { return products_; }

  std::uint32_t product_of(std::uint64_t pack) const { return static_cast<std::uint32_t>(pack % spec_.products); }
  std::uint32_t batch_of(std::uint64_t pack) const;
  std::string serial_of(std::uint64_t pack) const;
  // Appends the serial to `out` (the snapshot's hot path: no allocation).
  void append_serial(std::uint64_t pack, std::string& out) const;
  // The status the pack was seeded with: mostly "active", a few percent already decommissioned.
  std::string_view status_of(std::uint64_t pack) const;
  // Which seeded pack has this serial in product `product`; nullopt when none.
  std::optional<std::uint64_t> find_pack(std::uint32_t product, std::string_view serial) const;

  std::uint64_t aggregation_count() const;
  std::string sscc_of(std::uint64_t aggregation) const;
  std::vector<std::uint64_t> children_of(std::uint64_t aggregation) const;
  std::optional<std::uint64_t> find_aggregation(std::string_view sscc) const;

 private:
  std::uint64_t permute(std::uint64_t value) const;
  std::uint64_t unpermute(std::uint64_t value) const;

  SeedSpec spec_;
  std::vector<SeedProduct> products_;
};

// GS1 mod-10 check digit appended; PZN-8 from seven digits (nullopt when the remainder is 10).
std::string with_gs1_check(std::string body);
std::optional<std::string> pzn8(std::string_view seven);

}  // namespace vpoint::central_sim
