#pragma once
// A blocking HTTP(S) client of vpointd for the `vpoint` subcommands that talk to a running server (verify,
// supply, …, bulk, scan). One keep-alive connection, reopened when the server closed it; every connect, TLS
// handshake, write and read is bounded by `timeout`. Transport failures are values: the caller maps them to
// exit status 3 (docs/cli.md "Exit status of the client subcommands").
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "vpoint/scanner/result.hpp"

namespace vpoint::cli {

struct ApiEndpoint {
  bool tls = false;         // https://
  std::string host;         // as in the URL (brackets of an IPv6 literal removed)
  std::string port;         // the URL's port, else 80 / 443
  std::string path_prefix;  // the URL's path without a trailing '/' ("" or e.g. "/vpoint")
  std::string ca_file;      // "" = the system's CAs
  std::string cert_file;    // client certificate for mutual TLS ("" = none)
  std::string key_file;     // its private key
  std::string api_key;      // sent as Authorization: Bearer ("" = none)
  std::chrono::seconds timeout{30};
};

// Why no answer came (all of them are exit status 3).
enum class TransportErrorKind { resolve, connect, tls, timeout, closed, protocol };

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::connect;
  std::string message;  // names the URL's host:port and the OS/OpenSSL reason
};

struct ApiAnswer {
  unsigned status = 0;
  std::string content_type;  // media type only, lower case ("application/json", "application/problem+json")
  std::string body;
};

class ApiClient {
 public:
  explicit ApiClient(ApiEndpoint endpoint);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // POST prefix + `target` with `body` of `content_type`; `idempotency_key` "" = no Idempotency-Key header.
  Result<ApiAnswer, TransportError> post(const std::string& target, const std::string& body,
                                         const std::string& content_type,
                                         const std::string& idempotency_key = "");

  const ApiEndpoint& endpoint() const { return endpoint_; }

  struct Impl;  // the connection (api_client.cpp)

 private:
  ApiEndpoint endpoint_;
  std::unique_ptr<Impl> impl_;
};

// A fresh random Idempotency-Key (a UUID v4 in its text form): every change the CLI sends carries one.
std::string new_idempotency_key();

}  // namespace vpoint::cli
