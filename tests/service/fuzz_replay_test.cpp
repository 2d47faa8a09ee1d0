// Replays the request-body and central-answer fuzz corpora and their regressions (tests/fuzz/corpus/{request,
// central}, tests/fuzz/regressions/{request,central}) through the fuzz oracles, and checks that the oracles
// themselves tell a good input from a bad one.
#include <catch2/catch.hpp>

#include "central_check.hpp"
#include "corpus_files.hpp"
#include "request_check.hpp"

namespace pd = vpoint::service::pack_detail;
namespace cd = vpoint::service::central_detail;

namespace {

vpoint::service::Request json_request(std::string body) {
  vpoint::service::Request request{boost::beast::http::verb::post, "/v1/verify", 11};
  request.set(boost::beast::http::field::content_type, "application/json");
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

}  // namespace

TEST_CASE("every request-body fuzz corpus and regression input is read or refused with a 400 naming its field",
          "[fuzz][api]") {
  const std::size_t files = vpoint::fuzz::for_each_corpus_file(
      {"tests/fuzz/corpus/request", "tests/fuzz/regressions/request"},
      [](const std::string& path, const std::string& body) {
        CAPTURE(path);
        CHECK(vpoint::fuzz::request_body_holds(body));
      });
  CHECK(files >= 8);
}

TEST_CASE("request bodies: a pack object is read with the scanner's rules, malformed members name their field",
          "[fuzz][api]") {
  auto single = pd::read_single_body(
      json_request(R"({"pack":{"gtin":"04150123456782","serial":"S1","batch":"L1","expiry":"271231"},"action":"supply"})"),
      true);
  REQUIRE(single);
  REQUIRE(single->action == vpoint::cache::Action::supply);
  auto input = pd::read_pack_input(single->object, "");
  REQUIRE(input);
  CHECK(input->pack.gtin == "04150123456782");
  CHECK(input->pack.serial == "S1");

  // verify takes no action; decommission needs one
  CHECK(pd::read_single_body(json_request(R"({"scan":"x","action":"supply"})"), false).error().detail ==
        "unknown field 'action'");
  CHECK(pd::read_single_body(json_request(R"({"scan":"x"})"), true).error().extra.at("field") == "action");
  // bulk: items must be objects, at most the limit
  auto bulk = pd::read_bulk_body(json_request(R"({"items":[{"scan":"a"},7]})"));
  REQUIRE(bulk);
  auto items = pd::read_bulk_items(*bulk->items(), 100);
  REQUIRE_FALSE(items);
  CHECK(items.error().extra.at("field") == "items[1]");
  CHECK(pd::read_bulk_items(*bulk->items(), 1).error().detail == "items: at most 1 per request");
  // fuzz_request: a bulk verification with an action was accepted and the action ignored; it is refused now
  auto with_action = pd::read_bulk_body(json_request(R"({"sscc":"340123450000000017","action":"destroy"})"));
  REQUIRE_FALSE(with_action);
  CHECK(with_action.error().extra.at("field") == "action");
  CHECK(pd::read_bulk_body(json_request(R"({"operation":"undo","sscc":"340123450000000017","action":"destroy"})")));
  // the oracle refuses what would be wrong: a pack without serial is not an accepted input
  pd::Scanned no_serial;
  no_serial.pack.gtin = "04150123456782";
  CHECK_FALSE(vpoint::fuzz::request_detail::pack_input_holds(no_serial));
  for (const char* body : {"", "{", "[]", R"({"scan":7})", R"({"items":[],"sscc":"1"})", "{\"scan\":\"\\u0000\"}"}) {
    CAPTURE(body);
    CHECK(vpoint::fuzz::request_body_holds(body));
  }
}

TEST_CASE("every central-answer fuzz corpus and regression input is read without inventing a pack or losing a line",
          "[fuzz][central]") {
  const std::size_t files = vpoint::fuzz::for_each_corpus_file(
      {"tests/fuzz/corpus/central", "tests/fuzz/regressions/central"},
      [](const std::string& path, const std::string& body) {
        CAPTURE(path);
        CHECK(vpoint::fuzz::central_answers_hold(body));
      });
  CHECK(files >= 5);
}

TEST_CASE("central answers: the readers take what the simulator sends", "[fuzz][central]") {
  auto pack = cd::read_pack_answer(R"({"gtin":"04150123456782","serial":"S1","batch":"L1","status":"supplied"})",
                                   "x", "y");
  REQUIRE(pack);
  CHECK(pack->status == "supplied");
  CHECK(pack->code == "04150123456782");
  CHECK(cd::read_pack_answer(R"({"status":"active"})", "04150123456782", "S9")->serial == "S9");
  CHECK_FALSE(cd::read_pack_answer("[1]", "c", "s"));

  auto results = cd::read_write_back_results(
      R"({"results":[{"id":"t1","result":"accepted","seq":12},{"id":"t2","result":"rejected","code":"NMVS_NC_PC_02"},3]})");
  REQUIRE(results.size() == 2);
  CHECK(results.at("t1").seq == 12);
  CHECK(results.at("t2").code == "NMVS_NC_PC_02");

  auto rejection = cd::read_rejection_answer(
      R"({"status":"supplied","feed_seq":40,"history":[{"transaction":"other","location":"L2"},{"transaction":"mine"}]})",
      "mine");
  REQUIRE(rejection);
  CHECK(rejection->other_transaction == "other");
  CHECK(rejection->seq == 40);
  CHECK(rejection->details.at("conflicting_location") == "L2");

  auto feed = cd::split_feed_body("{\"seq\":4}\n{\"seq\":6}\n\nnot json\n{\"seq\":9}", 4);
  CHECK(feed.lines == std::vector<std::string>{"{\"seq\":6}", "not json", "{\"seq\":9}"});
  CHECK(feed.gaps == 2);

  auto recall = cd::recall_of(R"({"seq":3,"op":"upsert","type":"batch","gtin":"04150123456782","batch":"L1","state":"recalled"})");
  REQUIRE(recall);
  CHECK(recall->claim == "recall:04150123456782:L1:recalled:3");
  CHECK_FALSE(cd::recall_of(R"({"seq":3,"op":"delete","type":"batch","batch":"L1","state":"recalled"})"));
}
