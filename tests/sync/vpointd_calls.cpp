#include "vpointd_calls.hpp"

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace vpoint::test {

namespace json = boost::json;

json::object PackRef::pack_object(const std::string& with_serial) const {
  return {{key, code}, {"serial", with_serial.empty() ? serial : with_serial}, {"batch", batch}, {"expiry", expiry}};
}

std::vector<PackRef> packs_of(Simulator& sim, int n) {
  std::vector<PackRef> out;
  auto doc = sim.get_json("/admin/packs?limit=" + std::to_string(n));
  for (const auto& v : doc.at("packs").as_array()) {
    const auto& o = v.as_object();
    std::string key = o.contains("ppn") ? "ppn" : "gtin";
    out.push_back({key, std::string(o.at(key).as_string()), std::string(o.at("serial").as_string()),
                   std::string(o.at("batch").as_string()), std::string(o.at("expiry").as_string())});
  }
  return out;
}

std::vector<ScanPack> scan_packs(Simulator& sim, std::size_t n) {
  auto v = sim.get_json("/admin/packs?scan=1&limit=" + std::to_string(n));
  std::vector<ScanPack> out;
  for (const auto& p : v.at("packs").as_array()) {
    const auto& o = p.as_object();
    out.push_back({std::string(o.contains("gtin") ? o.at("gtin").as_string() : o.at("ppn").as_string()),
                   std::string(o.at("serial").as_string()), std::string(o.at("scan").as_string())});
  }
  return out;
}

Answer call_json(Vpointd& vpointd, const std::string& route, const json::object& body,
                 const std::map<std::string, std::string>& headers, const std::string& key) {
  auto res = vpointd.request(http::verb::post, route, json::serialize(body), key, headers);
  INFO(route << " -> " << res.result_int() << " " << res.body());
  auto v = json::parse(res.body());
  REQUIRE(v.is_object());
  return {res.result_int(), v.as_object()};
}

Answer call(Vpointd& vpointd, const std::string& route, const json::object& pack, const std::string& action,
            const std::map<std::string, std::string>& headers) {
  json::object body{{"pack", pack}};
  if (!action.empty()) body["action"] = action;
  return call_json(vpointd, route, body, headers);
}

bool has_warning(const json::object& body, std::string_view warning) {
  for (const auto& w : body.at("warnings").as_array())
    if (w.is_string() && w.as_string() == warning) return true;
  return false;
}

PackRef upload_behind_the_feed(Simulator& sim, const PackRef& like, const std::string& serial) {
  sim.post_json("/admin/faults", R"({"feed_hold":true})");
  PackRef p = like;
  p.serial = serial;
  HttpClient client(sim.port());
  json::object line{{"type", "pack"}, {p.key, p.code}, {"serial", serial}, {"batch", p.batch}};
  auto res = client.request(http::verb::post, "/admin/upload", json::serialize(line) + "\n",
                            {{"Content-Type", "application/x-ndjson"}});
  REQUIRE(res.result_int() == 200);
  return p;
}

std::vector<json::object> alerts(Vpointd& vpointd) {
  std::vector<json::object> out;
  auto doc = vpointd.get_json("/v1/alerts");
  for (const auto& a : doc.at("alerts").as_array()) out.push_back(a.as_object());
  return out;
}

std::optional<json::object> alert_for(Vpointd& vpointd, std::string_view field, std::string_view value,
                                      bool in_pack) {
  for (auto& a : alerts(vpointd)) {
    const json::value* v = in_pack ? a.at("pack").as_object().if_contains(field) : a.if_contains(field);
    if (v && v->is_string() && v->as_string() == value) return a;
  }
  return std::nullopt;
}

}  // namespace vpoint::test
