#pragma once
// The unique identifier of a medicine pack (EU 2016/161 Art 4, DSCSA product identifier).
#include <optional>
#include <string>

namespace vpoint::scanner {

enum class Scheme { gs1, ppn };

// National healthcare reimbursement number: AI 710..715 (DE, FR, ES, BR, PT, US NDC).
struct Nhrn {
  std::string ai;     // "710" .. "715"
  std::string value;  // as encoded
  bool operator==(const Nhrn&) const = default;
};

struct PackId {
  Scheme scheme = Scheme::gs1;
  std::string gtin;    // GTIN-14 (GTIN-8/12/13 are left-padded with zeros); empty when only a PPN is given
  std::string ppn;     // IFA PPN, 12 characters ("11" + PZN-8 + 2 check characters); empty for GS1 packs
  std::string serial;  // 1..20 characters, GS1 character set 82
  std::string batch;   // 1..20 characters
  std::string expiry;  // YYMMDD as printed; DD may be "00" (= last day of the month)
  std::optional<Nhrn> nhrn;

  // The key the mirror uses for the product: the GTIN, or the PPN where the pack has no GTIN.
  const std::string& product_code() const { return gtin.empty() ? ppn : gtin; }
  bool operator==(const PackId&) const = default;
};

}  // namespace vpoint::scanner
