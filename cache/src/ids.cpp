#include "vpoint/cache/ids.hpp"

#include <iterator>

#include <boost/algorithm/hex.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid.hpp>

namespace vpoint::cache {

std::string random_id() {
  thread_local boost::uuids::random_generator_mt19937 generate;
  const boost::uuids::uuid id = generate();
  std::string out;
  out.reserve(2 * id.size());
  boost::algorithm::hex_lower(id.begin(), id.end(), std::back_inserter(out));
  return out;
}

}  // namespace vpoint::cache
