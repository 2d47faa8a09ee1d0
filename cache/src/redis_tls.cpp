#include "redis_tls.hpp"

namespace vpoint::cache::detail {

Result<std::shared_ptr<boost::asio::ssl::context>, std::string> redis_tls_context(const std::string& ca_file,
                                                                                  const std::string& cert_file,
                                                                                  const std::string& key_file) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);
    if (ec) return Unexpected{"tls_ca_file '" + ca_file + "': " + ec.message()};
  } else {
    ctx->set_default_verify_paths(ec);
  }
  if (cert_file.empty() != key_file.empty())
    return Unexpected{std::string("tls_cert_file and tls_key_file must be given together")};
  if (!cert_file.empty()) {
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) return Unexpected{"tls_cert_file '" + cert_file + "': " + ec.message()};
    ctx->use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec) return Unexpected{"tls_key_file '" + key_file + "': " + ec.message()};
  }
  return ctx;
}

}  // namespace vpoint::cache::detail
