#include "seed.hpp"

#include <array>

#include <fmt/format.h>

#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/ppn.hpp"

namespace vpoint::central_sim {
namespace {

constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr int kSerialCore = 11;  // 62^11 > 2^64: the permuted pack index always fits in 11 characters
constexpr std::string_view kCompanyPrefix = "4012345";  // SSCC company prefix of the seeded manufacturer

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t mix(std::uint64_t seed, std::uint64_t domain, std::uint64_t index) {
  return splitmix(splitmix(seed ^ (domain << 56)) ^ index);
}

int base62_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  if (c >= 'a' && c <= 'z') return c - 'a' + 36;
  return -1;
}

struct Country {
  std::string_view prefix;
  std::string_view market;
};
constexpr std::array<Country, 8> kCountries{{{"300", "FR"},
                                             {"800", "IT"},
                                             {"871", "NL"},
                                             {"540", "BE"},
                                             {"590", "PL"},
                                             {"840", "ES"},
                                             {"900", "AT"},
                                             {"560", "PT"}}};
constexpr std::array<std::string_view, 16> kSubstances{
    "Ibuprofen", "Paracetamol", "Metformin",  "Amlodipine", "Simvastatin", "Omeprazole",
    "Ramipril",  "Bisoprolol",  "Levothyroxine", "Pantoprazole", "Atorvastatin", "Metoprolol",
    "Candesartan", "Sertraline", "Apixaban", "Salbutamol"};
constexpr std::array<std::string_view, 6> kStrengths{"5 mg", "10 mg", "20 mg", "40 mg", "100 mg", "400 mg"};
constexpr std::array<std::string_view, 5> kForms{"tablets", "film-coated tablets", "hard capsules",
                                                 "gastro-resistant tablets", "oral solution"};
constexpr std::array<int, 5> kCounts{20, 28, 30, 50, 100};
constexpr std::array<std::string_view, 4> kRecallReasons{
    "out-of-specification dissolution result", "particulate contamination found in retained samples",
    "labelling error: wrong strength on the carton", "nitrosamine impurity above the acceptable intake"};

// Seeded packs 0 .. 16*kCasesPerProductShare-1 of each product are kept active (they sit in sealed cases).
std::uint64_t cases_per_product(const SeedSpec& spec) {
  std::uint64_t per_product = spec.packs / spec.products;
  return per_product / kCaseSize / 10;  // about a tenth of the packs travel in cases
}

}  // namespace

std::string with_gs1_check(std::string body) {
  body.push_back(scanner::gs1::check_digit(body));
  return body;
}

std::optional<std::string> pzn8(std::string_view seven) {
  int sum = 0;
  for (int i = 0; i < 7; ++i) sum += (seven[static_cast<std::size_t>(i)] - '0') * (i + 1);
  if (sum % 11 == 10) return std::nullopt;
  return std::string(seven) + static_cast<char>('0' + sum % 11);
}

Seed::Seed(SeedSpec spec) : spec_(spec) {
  if (spec_.products == 0) spec_.products = 1;
  products_.reserve(spec_.products);
  std::uint64_t gtin_offset = splitmix(spec_.seed) % 1000000000ULL;
  std::uint64_t pzn_offset = splitmix(spec_.seed + 1) % 1000000ULL;
  for (std::uint32_t p = 0; p < spec_.products; ++p) {
    std::uint64_t h = mix(spec_.seed, 'P', p);
    SeedProduct product;
    if (p % 4 == 0) {
      // German product: the PZN identifies it; IFA-coded (PPN on the pack) or GS1-coded (NTIN).
      // Six digits are a bijection of p/4 (unique codes), the seventh is picked so that the PZN is valid.
      std::uint64_t six = (static_cast<std::uint64_t>(p / 4) * 7919ULL + pzn_offset) % 1000000ULL;
      std::string body = fmt::format("{:06}", six);
      std::optional<std::string> pzn;
      for (int d = 0; d < 10 && !pzn; ++d) pzn = pzn8(body + static_cast<char>('0' + (h + d) % 10));
      product.ppn = *scanner::ppn::ppn_from_pzn(*pzn);
      product.gtin = *scanner::ppn::ntin_from_pzn(*pzn);
      product.pack_uses_ppn = p % 8 == 0;
      product.market = "DE";
    } else {
      const Country& country = kCountries[h % kCountries.size()];
      std::uint64_t item = (static_cast<std::uint64_t>(p) * 104729ULL + gtin_offset) % 1000000000ULL;
      product.gtin = with_gs1_check(fmt::format("0{}{:09}", country.prefix, item));
      product.market = std::string(country.market);
    }
    product.name = fmt::format("{} {} {}, {} pcs", kSubstances[(h >> 8) % kSubstances.size()],
                               kStrengths[(h >> 16) % kStrengths.size()], kForms[(h >> 24) % kForms.size()],
                               kCounts[(h >> 32) % kCounts.size()]);
    std::uint32_t batch_count = 2 + static_cast<std::uint32_t>((h >> 40) % 3);
    for (std::uint32_t b = 0; b < batch_count; ++b) {
      std::uint64_t hb = mix(spec_.seed, 'B', static_cast<std::uint64_t>(p) * 8 + b);
      SeedBatch batch;
      bool past = hb % 100 < 8 && !(p == 0 && b == 0);  // product 0 batch 0 stays usable for demos
      int year = past ? spec_.base_year - 1 - static_cast<int>((hb >> 8) % 2)
                      : spec_.base_year + 1 + static_cast<int>((hb >> 8) % 4);
      int month = 1 + static_cast<int>((hb >> 12) % 12);
      int day = 0;  // GS1: day 00 = last day of the month; still on packs in circulation (domain.md)
      if ((hb >> 20) % 5 != 0) {
        day = (hb >> 24) % 2 ? scanner::gs1::days_in_month(year, month) : 1 + static_cast<int>((hb >> 28) % 28);
      }
      batch.expiry = fmt::format("{:02}{:02}{:02}", year % 100, month, day);
      std::string code;
      for (int k = 0; k < 4; ++k) code.push_back(kBase62[(hb >> (32 + 6 * k)) % 36]);
      char letter = static_cast<char>('A' + (hb >> 56) % 26);
      batch.batch = (hb >> 60) % 4 == 0 ? fmt::format("{}{:02}-{}{}", letter, (year - 3) % 100, code, b)
                                        : fmt::format("{}{:02}{}{}", letter, (year - 3) % 100, code, b);
      std::uint64_t fate = (hb >> 44) % 41;
      bool last = b + 1 == batch_count;
      if ((spec_.products >= 3 && p == 1 && last) || (fate == 0 && !(p == 0 && b == 0))) {
        batch.state = "recalled";
        batch.reason = std::string(kRecallReasons[(hb >> 50) % kRecallReasons.size()]);
      } else if ((spec_.products >= 3 && p == 2 && last) || (fate == 1 && !(p == 0 && b == 0))) {
        batch.state = "withdrawn";
        batch.reason = "marketing authorisation withdrawn";
      } else {
        batch.state = "active";
      }
      product.batches.push_back(std::move(batch));
    }
    products_.push_back(std::move(product));
  }
}

std::uint32_t Seed::batch_of(std::uint64_t pack) const {
  const SeedProduct& product = products_[product_of(pack)];
  std::uint64_t within = pack / spec_.products;
  return static_cast<std::uint32_t>((within / kCaseSize) % product.batches.size());
}

// A 4-round Feistel network over the two 32-bit halves: a bijection of 64-bit values keyed by the seed,
// so serials look random yet decode back to their pack index.
std::uint64_t Seed::permute(std::uint64_t value) const {
  std::uint32_t left = static_cast<std::uint32_t>(value >> 32);
  std::uint32_t right = static_cast<std::uint32_t>(value);
  for (std::uint64_t round = 0; round < 4; ++round) {
    std::uint32_t f = static_cast<std::uint32_t>(mix(spec_.seed, 'F' + round, right));
    std::uint32_t next = left ^ f;
    left = right;
    right = next;
  }
  return (static_cast<std::uint64_t>(left) << 32) | right;
}

std::uint64_t Seed::unpermute(std::uint64_t value) const {
  std::uint32_t left = static_cast<std::uint32_t>(value >> 32);
  std::uint32_t right = static_cast<std::uint32_t>(value);
  for (std::uint64_t round = 4; round-- > 0;) {
    std::uint32_t previous_right = left;
    std::uint32_t f = static_cast<std::uint32_t>(mix(spec_.seed, 'F' + round, previous_right));
    left = right ^ f;
    right = previous_right;
  }
  return (static_cast<std::uint64_t>(left) << 32) | right;
}

void Seed::append_serial(std::uint64_t pack, std::string& out) const {
  std::uint64_t value = permute(pack);
  char core[kSerialCore];
  for (int i = kSerialCore - 1; i >= 0; --i) {
    core[i] = kBase62[value % 62];
    value /= 62;
  }
  out.append(core, kSerialCore);
  std::uint64_t h = mix(spec_.seed, 'S', pack);
  int extra = 1 + static_cast<int>(h % 9);  // 12..20 characters in all
  h >>= 4;
  for (int i = 0; i < extra; ++i) {
    out.push_back(kBase62[h % 62]);
    h /= 62;
    if (h == 0) h = mix(spec_.seed, 'T', pack + static_cast<std::uint64_t>(i));
  }
}

std::string Seed::serial_of(std::uint64_t pack) const {
  std::string out;
  out.reserve(20);
  append_serial(pack, out);
  return out;
}

std::string_view Seed::status_of(std::uint64_t pack) const {
  std::uint64_t within = pack / spec_.products;
  if (within < cases_per_product(spec_) * kCaseSize) return "active";
  std::uint64_t h = mix(spec_.seed, 'D', pack) % 1000;
  if (h < 20) return "supplied";
  if (h < 25) return "destroyed";
  if (h < 27) return "exported";
  if (h < 28) return "stolen";
  if (h < 30) return "locked";
  return "active";
}

std::optional<std::uint64_t> Seed::find_pack(std::uint32_t product, std::string_view serial) const {
  if (serial.size() < 12 || serial.size() > 20) return std::nullopt;
  unsigned __int128 value = 0;
  for (int i = 0; i < kSerialCore; ++i) {
    int digit = base62_value(serial[static_cast<std::size_t>(i)]);
    if (digit < 0) return std::nullopt;
    value = value * 62 + static_cast<unsigned>(digit);
  }
  if (value > UINT64_MAX) return std::nullopt;
  std::uint64_t pack = unpermute(static_cast<std::uint64_t>(value));
  if (pack >= spec_.packs || product_of(pack) != product) return std::nullopt;
  if (serial_of(pack) != serial) return std::nullopt;
  return pack;
}

std::uint64_t Seed::aggregation_count() const {
  return std::min<std::uint64_t>(2000, cases_per_product(spec_) * spec_.products);
}

std::string Seed::sscc_of(std::uint64_t aggregation) const {
  // SSCC: extension digit, company prefix, serial reference, GS1 check digit (18 digits).
  return with_gs1_check(fmt::format("3{}{:09}", kCompanyPrefix, aggregation));
}

std::vector<std::uint64_t> Seed::children_of(std::uint64_t aggregation) const {
  std::uint64_t product = aggregation % spec_.products;
  std::uint64_t round = aggregation / spec_.products;
  std::vector<std::uint64_t> children;
  children.reserve(kCaseSize);
  for (std::uint64_t k = 0; k < kCaseSize; ++k) children.push_back(product + spec_.products * (round * kCaseSize + k));
  return children;
}

std::optional<std::uint64_t> Seed::find_aggregation(std::string_view sscc) const {
  if (sscc.size() != 18 || sscc[0] != '3' || sscc.substr(1, kCompanyPrefix.size()) != kCompanyPrefix) return std::nullopt;
  if (!scanner::gs1::check_digit_ok(sscc)) return std::nullopt;
  std::uint64_t number = 0;
  for (char c : sscc.substr(8, 9)) number = number * 10 + static_cast<std::uint64_t>(c - '0');
  if (number >= aggregation_count()) return std::nullopt;
  return number;
}

}  // namespace vpoint::central_sim
