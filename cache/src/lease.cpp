#include "vpoint/cache/lease.hpp"

#include <unistd.h>


#include <fmt/format.h>

#include "mirror_internal.hpp"
#include "vpoint/cache/ids.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using detail::cmd;

std::string default_lease_owner() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}:{}", host, ::getpid(), random_id().substr(0, 8));
}

Lease::Lease(Client& client, std::string name, std::string owner, std::chrono::milliseconds ttl)
    : client_(&client), key_("vpoint:lease:" + name), owner_(std::move(owner)), ttl_(ttl) {}

awaitable<bool> Lease::hold() {
  auto reply = co_await client_->command(cmd("FCALL", "vp_lease", "1", key_, owner_, "hold", std::to_string(ttl_.count())),
                                         key_);
  held_ = reply && reply->type == Reply::Type::integer && reply->integer == 1;
  co_return held_;
}

awaitable<bool> Lease::release() {
  held_ = false;
  auto reply = co_await client_->command(cmd("FCALL", "vp_lease", "1", key_, owner_, "release"), key_);
  co_return reply && reply->type == Reply::Type::integer && reply->integer == 1;
}

}  // namespace vpoint::cache
