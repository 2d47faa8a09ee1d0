#pragma once
// Key layout of the mirror (docs/design.md "Redis data model"). Internal to cache/: the Functions library
// (cache/lua/vpoint.lua), Mirror, the snapshot import and the feed apply must agree on it.
//
// Pack keys: P = CRC32(code "|" serial) mod 1024 is the partition and Cluster hash tag; within a partition
// the pack goes to bucket (CRC32 / 1024) mod B, B = buckets per partition of the generation
// (mirror:layout:<gen>). Field = 3-character product index + serial; value = batch index * 32 + pending * 16 +
// status (format 2, kMirrorFormat), a small integer that a listpack stores in 1-3 bytes. pending = this site
// changed the pack and the central system has not answered yet; status 15 = a status the central system sent
// that vpoint does not know, its raw text in us:{P}:<gen> under the same field.
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/crc.hpp>

namespace vpoint::cache::detail {

inline constexpr std::string_view kGenerationKey = "mirror:gen";      // generation in effect
inline constexpr std::string_view kNextGenerationKey = "mirror:gen:next";

inline std::uint32_t pack_hash(std::string_view code, std::string_view serial) {
  boost::crc_32_type crc;
  crc.process_bytes(code.data(), code.size());
  crc.process_byte('|');
  crc.process_bytes(serial.data(), serial.size());
  return crc.checksum();
}

inline std::string layout_key(std::int64_t gen) { return "mirror:layout:" + std::to_string(gen); }
// Value format of a generation (kMirrorFormat), written by the import before the switch.
inline std::string format_key(std::int64_t gen) { return "mirror:format:" + std::to_string(gen); }
// Feed position (last applied change's seq) of a generation: a new snapshot brings its own position.
inline std::string seq_key(std::int64_t gen) { return "mirror:seq:" + std::to_string(gen); }
inline std::string aggregation_key(std::int64_t gen, std::string_view sscc) {
  std::string k = "ag:" + std::to_string(gen) + ":";
  k.append(sscc);
  return k;
}

inline std::string pack_key(int partition, std::int64_t gen, int bucket) {
  return "pk:{" + std::to_string(partition) + "}:" + std::to_string(gen) + ":" + std::to_string(bucket);
}
inline std::string decommission_key(int partition, std::string_view code, std::string_view serial) {
  std::string key = "dx:{" + std::to_string(partition) + "}:";
  key.append(code).append(":").append(serial);
  return key;
}
inline std::string undo_marker_key(int partition, std::string_view code, std::string_view serial) {
  std::string key = "dxm:{" + std::to_string(partition) + "}:";
  key.append(code).append(":").append(serial);
  return key;
}
// Raw text of statuses the central system sent that vpoint does not know: hash, field = pack field.
inline std::string unknown_status_key(int partition, std::int64_t gen) {
  return "us:{" + std::to_string(partition) + "}:" + std::to_string(gen);
}
inline std::string outbox_key(int partition) { return "ob:{" + std::to_string(partition) + "}"; }
// Pending local transactions per pack (vpoint.lua pending_of): field pending_field(code, serial), not per generation.
inline std::string pending_key(int partition) { return "pn:{" + std::to_string(partition) + "}"; }
inline std::string pending_field(std::string_view code, std::string_view serial) {
  std::string f;
  f.reserve(code.size() + 1 + serial.size());
  f.append(code).append(1, '|').append(serial);
  return f;
}
inline std::string audit_key(int partition) { return "au:{" + std::to_string(partition) + "}"; }
inline std::string idempotency_key(int partition, std::string_view caller, std::string_view key) {
  std::string k = "idem:{" + std::to_string(partition) + "}:";
  k.append(caller).append(":").append(key);
  return k;
}
// Product data: tagged by product code so that a product's keys share a slot.
inline std::string product_key(std::int64_t gen, std::string_view code) {
  std::string k = "prod:" + std::to_string(gen) + ":{";
  k.append(code).append("}");
  return k;
}
inline std::string batch_list_key(std::int64_t gen, std::string_view code) {
  std::string k = "bix:" + std::to_string(gen) + ":{";
  k.append(code).append("}");
  return k;
}
inline std::string batch_key(std::int64_t gen, std::string_view code, std::string_view batch) {
  std::string k = "bat:" + std::to_string(gen) + ":{";
  k.append(code).append("}:").append(batch);
  return k;
}
inline std::string product_counter_key(std::int64_t gen) { return "mirror:pseq:" + std::to_string(gen); }

// 3 characters of a 64-symbol alphabet: 262 144 products per generation.
inline constexpr std::uint32_t kMaxProducts = 64u * 64u * 64u;
inline std::string encode_product_index(std::uint32_t index) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
  std::string out(3, '0');
  out[0] = kAlphabet[(index >> 12) & 63];
  out[1] = kAlphabet[(index >> 6) & 63];
  out[2] = kAlphabet[index & 63];
  return out;
}
inline std::string pack_field(std::uint32_t product_index, std::string_view serial) {
  std::string f = encode_product_index(product_index);
  f.append(serial);
  return f;
}
inline constexpr std::int64_t kBatchFactor = 32;
inline constexpr std::int64_t kPendingBit = 16;
inline constexpr std::uint8_t kStatusMask = 15;
inline constexpr std::uint8_t kUnknownStatus = 15;
inline std::int64_t pack_value(std::uint32_t batch_index, std::uint8_t status, bool pending = false) {
  return static_cast<std::int64_t>(batch_index) * kBatchFactor + (pending ? kPendingBit : 0) + (status & kStatusMask);
}
struct PackValue {
  std::uint32_t batch_index = 0;
  bool pending = false;
  std::uint8_t status = 0;
};
inline PackValue decode_pack_value(std::int64_t value) {
  return PackValue{static_cast<std::uint32_t>(value / kBatchFactor), (value & kPendingBit) != 0,
                   static_cast<std::uint8_t>(value & kStatusMask)};
}

}  // namespace vpoint::cache::detail
