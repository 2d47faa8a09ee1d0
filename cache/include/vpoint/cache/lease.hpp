#pragma once
// A lease: one holder at a time across vpointd instances (the outbox drainer of a partition range, the sender
// of alerts to one target, the offline replay, the audit archiver). Key vpoint:lease:<name> = the owner id,
// expiring after the TTL unless renewed; taken, renewed and released by the vp_lease Function
// (cache/lua/vpoint.lua), so that no instance renews or deletes a lease another one took over.
#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {

// An owner id for this process: "<host name>:<pid>:<8 random hex digits>".
std::string default_lease_owner();

class Lease {
 public:
  // `name`: "outbox:<range>", "alerts:<target>", "reverify", "audit", ...; `owner`: this instance's id.
  // `client` must outlive the lease.
  Lease(Client& client, std::string name, std::string owner, std::chrono::milliseconds ttl);

  // Renews the lease when this owner holds it, takes it when it is free. True = held now. A Redis failure is
  // "not held" (whoever held it keeps it until the TTL runs out, so at most one holder either way).
  boost::asio::awaitable<bool> hold();
  // Gives the lease up at once when this owner holds it (a stopping instance hands over without the TTL wait).
  // True when it was this owner's and is free now.
  boost::asio::awaitable<bool> release();

  bool held() const { return held_; }
  const std::string& key() const { return key_; }

 private:
  Client* client_;
  std::string key_;
  std::string owner_;
  std::chrono::milliseconds ttl_;
  bool held_ = false;
};

}  // namespace vpoint::cache
