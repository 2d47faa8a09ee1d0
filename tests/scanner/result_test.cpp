// Result<T, E>: what is not set is not a success.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "vpoint/scanner/result.hpp"

using vpoint::Result;
using vpoint::Unexpected;

TEST_CASE("a default-constructed Result is an error, not a success", "[scanner][result]") {
  Result<int, std::string> unset;
  CHECK_FALSE(unset);
  CHECK_FALSE(unset.has_value());
  CHECK(unset.error().empty());
  // The same for the elements of a vector sized up front and never filled (e.g. one slot per bulk item).
  std::vector<Result<std::string, std::string>> slots(3);
  slots[1] = std::string("filled");
  CHECK_FALSE(slots[0]);
  CHECK(slots[1]);
  CHECK(*slots[1] == "filled");
  CHECK_FALSE(slots[2]);
}

TEST_CASE("a Result holds the value or the error it was given", "[scanner][result]") {
  Result<int, std::string> ok = 7;
  REQUIRE(ok);
  CHECK(*ok == 7);
  Result<int, std::string> failed = Unexpected{std::string("no")};
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == "no");
  failed = 3;
  CHECK(failed);
  CHECK(failed.value() == 3);
}
