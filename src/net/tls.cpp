#include "net/tls.hpp"

#include "base/metrics.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <mutex>

namespace ecash::net::tls {
namespace {

// The refusal a handshake's check recorded, kept on the SSL object it refused.
int refusal_index() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<Error*>(p); });
  return index;
}

// The last session a server gave on a client context, to resume with.
struct SessionSlot {
  std::mutex mutex;
  SSL_SESSION* session = nullptr;
};
int session_index() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
        auto* slot = static_cast<SessionSlot*>(p);
        if (slot != nullptr) SSL_SESSION_free(slot->session);
        delete slot;
      });
  return index;
}

int new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), session_index()));
  if (slot == nullptr) return 0;
  std::lock_guard lock(slot->mutex);
  SSL_SESSION_free(slot->session);
  slot->session = session;  // ours now
  return 1;
}

// The X.509 error a refusal is reported as; OpenSSL turns it into the TLS alert the peer sees
// (certificate_revoked, unknown_ca, ...), and the peer turns the alert back into our code.
int x509_error(ErrorCode code) {
  switch (code) {
    case ErrorCode::certificate_revoked: return X509_V_ERR_CERT_REVOKED;
    case ErrorCode::certificate_expired: return X509_V_ERR_CERT_HAS_EXPIRED;
    case ErrorCode::certificate_not_yet_valid: return X509_V_ERR_CERT_NOT_YET_VALID;
    case ErrorCode::untrusted_issuer: return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    case ErrorCode::wrong_role: return X509_V_ERR_INVALID_PURPOSE;
    default: return X509_V_ERR_APPLICATION_VERIFICATION;
  }
}

// OpenSSL's whole certificate verification, replaced: the chain, dates, CRL and role are judged
// by the TrustStore, the one place that knows our CA and its roles.
int verify_callback(X509_STORE_CTX* store, void* arg) {
  const auto& check = *static_cast<const PeerCheck*>(arg);
  auto ok = check_peer(check, X509_STORE_CTX_get0_cert(store));
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (!ok) {
    if (ssl != nullptr) {
      delete static_cast<Error*>(SSL_get_ex_data(ssl, refusal_index()));
      SSL_set_ex_data(ssl, refusal_index(), new Error(ok.error()));
    }
    X509_STORE_CTX_set_error(store, x509_error(ok.error().code));
    return 0;
  }
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

Bytes der_of(X509* x) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(x, &der);
  Bytes out(der, der + std::max(length, 0));
  OPENSSL_free(der);
  return out;
}

}  // namespace

Result<pki::Certificate> check_peer(const PeerCheck& check, X509* leaf) {
  auto checked = [&]() -> Result<pki::Certificate> {
    if (leaf == nullptr) return fail(ErrorCode::bad_certificate, "no certificate");
    const Bytes der = der_of(leaf);
    if (der.empty()) return fail(ErrorCode::bad_certificate, "unreadable certificate");
    auto cert = check.policy.trust->verify_der(der, check.policy.roles, check.clock->now());
    if (!cert) return cert;
    if (check.policy.pinned_fingerprint && cert->fingerprint() != *check.policy.pinned_fingerprint) {
      return fail(ErrorCode::bad_certificate,
                  "the peer holds another certificate than the one it was named by");
    }
    return cert;
  }();
  metrics::count("ecash_certificate_checks_total",
                 {{"outcome", checked ? "accepted" : std::string(to_string(checked.error().code))}});
  return checked;
}

Status configure(SSL_CTX* ctx, bool server, const std::optional<TlsIdentity>& identity,
                 const PeerCheck* check, int verify_mode, bool resumption) {
  if (ctx == nullptr)
    return fail(ErrorCode::internal, "no TLS context: " + pki::take_openssl_errors());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  // Whole records, and what follows them, in one read from the socket.
  SSL_CTX_set_read_ahead(ctx, 1);
  if (!resumption) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  } else if (server) {
    // Stateless tickets; a resumed client is checked again after the handshake (check_session).
    static const unsigned char kContext[] = "ecash";
    SSL_CTX_set_session_id_context(ctx, kContext, sizeof kContext - 1);
    SSL_CTX_set_num_tickets(ctx, 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (SSL_CTX_get_ex_data(ctx, session_index()) == nullptr) {
      SSL_CTX_set_ex_data(ctx, session_index(), new SessionSlot);
    }
    SSL_CTX_sess_set_new_cb(ctx, new_session);
  }
  if (identity) {
    if (SSL_CTX_use_certificate(ctx, identity->certificate.native()) != 1) {
      return fail(ErrorCode::bad_certificate,
                  "TLS certificate refused: " + pki::take_openssl_errors());
    }
    BIO* bio = BIO_new_mem_buf(identity->private_key_pem.data(),
                               static_cast<int>(identity->private_key_pem.size()));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    const bool used = key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
                      SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!used)
      return fail(ErrorCode::bad_encoding, "TLS key refused: " + pki::take_openssl_errors());
  }
  if (check != nullptr) {
    SSL_CTX_set_verify(ctx, verify_mode, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, verify_callback, const_cast<PeerCheck*>(check));
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return {};
}

std::optional<Error> refusal(SSL* ssl) {
  const auto* e = static_cast<const Error*>(SSL_get_ex_data(ssl, refusal_index()));
  if (e == nullptr) return std::nullopt;
  return *e;
}

Result<std::optional<pki::Certificate>> check_session(const PeerCheck& check, SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) {
    if (check.policy.certificate_required) {
      return fail(ErrorCode::bad_certificate, "no certificate was presented");
    }
    return std::optional<pki::Certificate>();
  }
  auto cert = check_peer(check, peer);
  if (!cert) return std::unexpected(cert.error());
  return std::optional<pki::Certificate>(std::move(*cert));
}

std::optional<Error> refusal_from_alert(unsigned long error) {
  if (ERR_GET_LIB(error) != ERR_LIB_SSL) return std::nullopt;
  switch (ERR_GET_REASON(error)) {
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      return Error{ErrorCode::certificate_revoked, "this certificate is revoked"};
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return Error{ErrorCode::certificate_expired, "this certificate has expired or is not yet valid"};
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return Error{ErrorCode::untrusted_issuer, "this certificate is not from the server's CA"};
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      return Error{ErrorCode::wrong_role, "this certificate's role may not call this server"};
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return Error{ErrorCode::bad_certificate, "this server needs a client certificate"};
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return Error{ErrorCode::bad_certificate, "the server refused this certificate"};
    default:
      return std::nullopt;
  }
}

SSL_SESSION* last_session(SSL_CTX* ctx) {
  auto* slot = static_cast<SessionSlot*>(SSL_CTX_get_ex_data(ctx, session_index()));
  if (slot == nullptr) return nullptr;
  std::lock_guard lock(slot->mutex);
  if (slot->session == nullptr || SSL_SESSION_is_resumable(slot->session) != 1) return nullptr;
  SSL_SESSION_up_ref(slot->session);
  return slot->session;
}

}  // namespace ecash::net::tls
