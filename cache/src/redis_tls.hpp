#pragma once
// TLS to Redis, one piece for the command connections (redis_client.cpp makes the context,
// redis_connection.cpp prepares each stream) and the invalidation subscriber (subscriber.cpp).
#include <memory>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <openssl/ssl.h>

#include "vpoint/scanner/result.hpp"

namespace vpoint::cache::detail {

// The client context: the CA bundle `ca_file` (else the system's), and a client certificate with its key when
// given (both or neither). The error names the option: "tls_ca_file '<path>': <OpenSSL text>".
Result<std::shared_ptr<boost::asio::ssl::context>, std::string> redis_tls_context(const std::string& ca_file,
                                                                                  const std::string& cert_file,
                                                                                  const std::string& key_file);

// Before the handshake: verify the server's certificate against `name` (unless verify_peer is false) and send
// `name` as SNI when it is a host name (not an IP literal).
template <class Stream>
void prepare_tls_handshake(Stream& stream, const std::string& name, bool verify_peer) {
  if (verify_peer) {
    stream.set_verify_mode(boost::asio::ssl::verify_peer);
    stream.set_verify_callback(boost::asio::ssl::host_name_verification(name));
  } else {
    stream.set_verify_mode(boost::asio::ssl::verify_none);
  }
  boost::system::error_code not_ip;
  (void)boost::asio::ip::make_address(name, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
}

}  // namespace vpoint::cache::detail
