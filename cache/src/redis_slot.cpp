// Redis Cluster key slots: CRC16 (XMODEM: poly 0x1021, init 0) of the key, or of the first non-empty
// {hash tag}, mod 16384 (Redis Cluster specification, "Keys distribution model").
#include <array>

#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {
namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
    table[i] = crc;
  }
  return table;
}
constexpr auto kCrc16Table = make_crc16_table();

constexpr std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data) crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  return crc;
}
static_assert(crc16("123456789") == 0x31C3, "CRC16/XMODEM check value from the Redis Cluster spec");

}  // namespace

std::uint16_t key_slot(std::string_view key) {
  // Only the part between the first '{' and the next '}' counts, and only if it is non-empty.
  if (auto open = key.find('{'); open != std::string_view::npos) {
    if (auto close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) & 16383);
}

}  // namespace vpoint::cache
