// Redis Cluster key slots: CRC16 (XMODEM: poly 0x1021, init 0) of the key, or of the first non-empty
// {hash tag}, mod 16384 (Redis Cluster specification, "Keys distribution model").
#include <boost/crc.hpp>

#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {
namespace {

// CRC16/XMODEM: width 16, polynomial 0x1021, initial value 0, no final XOR, no reflection (table-driven).
using Crc16Xmodem = boost::crc_optimal<16, 0x1021, 0, 0, false, false>;

std::uint16_t crc16(std::string_view data) {
  Crc16Xmodem crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

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
