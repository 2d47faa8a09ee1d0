// Change-feed lines without Redis (feed_line.hpp).
#include "feed_line.hpp"

#include <boost/json/parse.hpp>

namespace vpoint::cache::detail {

namespace json = boost::json;

std::string_view str(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_string()) return {};
  const auto& s = it->value().get_string();
  return {s.data(), s.size()};
}

bool has_string(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  return it != o.end() && it->value().is_string();
}

bool valid_code(std::string_view code) { return !code.empty() && code.size() <= 20; }
bool valid_serial(std::string_view serial) { return !serial.empty() && serial.size() <= 20; }
bool valid_expiry(std::string_view e) {
  return e.size() == 6 && e.find_first_not_of("0123456789") == std::string_view::npos;
}

Result<FeedLine, std::string> parse_feed_line(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec) return Unexpected{"not valid JSON: " + ec.message()};
  if (!value.is_object()) return Unexpected{std::string("not a JSON object")};
  FeedLine line;
  line.object = std::move(value.get_object());
  auto seq = line.object.find("seq");
  if (seq == line.object.end() || !seq->value().is_int64() || seq->value().get_int64() < 1)
    return Unexpected{std::string("\"seq\" must be a positive integer")};
  line.seq = seq->value().get_int64();
  auto op = str(line.object, "op");
  if (op != "upsert" && op != "delete") return Unexpected{std::string("\"op\" must be upsert or delete")};
  line.remove = op == "delete";
  auto type = str(line.object, "type");
  line.type = type == "product" ? FeedType::product
              : type == "batch" ? FeedType::batch
              : type == "pack" ? FeedType::pack
              : type == "aggregation" ? FeedType::aggregation
                                      : FeedType::other;
  return line;
}

std::optional<std::string> product_line_problem(const json::object& o) {
  auto gtin = str(o, "gtin");
  auto ppn = str(o, "ppn");
  if (gtin.empty() && ppn.empty()) return "product: needs \"gtin\" or \"ppn\"";
  if (gtin.size() > 20 || ppn.size() > 20) return "product: code longer than 20";
  return std::nullopt;
}

std::optional<std::string> batch_line_problem(const json::object& o) {
  auto name = str(o, "batch");
  if (name.empty() || name.size() > 20) return "batch: \"batch\" must be 1-20 characters";
  if (has_string(o, "expiry") && !valid_expiry(str(o, "expiry"))) return "batch: \"expiry\" must be YYMMDD";
  return std::nullopt;
}

std::optional<std::string> pack_line_problem(const json::object& o) {
  if (!valid_serial(str(o, "serial"))) return "pack: \"serial\" must be 1-20 characters";
  return std::nullopt;
}

Result<std::vector<std::string>, std::string> aggregation_children(const json::object& o, bool remove) {
  auto sscc = str(o, "sscc");
  if (sscc.size() != 18 || sscc.find_first_not_of("0123456789") != std::string_view::npos)
    return Unexpected{std::string("aggregation: \"sscc\" must be 18 digits")};
  std::vector<std::string> children;
  if (remove) return children;
  auto it = o.find("children");
  if (it == o.end() || !it->value().is_array()) return Unexpected{std::string("aggregation: \"children\" must be an array")};
  for (const auto& child : it->value().get_array()) {
    if (!child.is_object()) return Unexpected{std::string("aggregation: each child must be an object")};
    auto code = str(child.get_object(), "gtin");
    if (code.empty()) code = str(child.get_object(), "ppn");
    auto serial = str(child.get_object(), "serial");
    if (code.empty() || serial.empty())
      return Unexpected{std::string("aggregation: child needs \"gtin\"/\"ppn\" and \"serial\"")};
    children.push_back(std::string(code) + "|" + std::string(serial));
  }
  return children;
}

}  // namespace vpoint::cache::detail
