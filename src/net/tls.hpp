// Inside the net layer: TLS 1.3 contexts for both ends, with OpenSSL's certificate check replaced
// by ours (the TrustStore judges the CA, dates, CRL and role), and the reasons a handshake was
// refused carried as alerts. Session resumption is on: a resumed session skips the handshake's
// check, so each end checks the peer's certificate again after every handshake (check_session),
// which the TrustStore answers from memory. Thread-safe once configured.
#pragma once

#include <openssl/ssl.h>

#include <optional>

#include "base/clock.hpp"
#include "net/net.hpp"

namespace ecash::net::tls {

// What a context checks its peers against. Lives as long as the SSL_CTX that points at it.
struct PeerCheck {
  PeerPolicy policy;
  const Clock* clock = nullptr;
};

// The peer certificate in the handshake against check (trust, roles, pin).
Result<pki::Certificate> check_peer(const PeerCheck& check, X509* leaf);

// Sets up ctx for TLS 1.3 only: identity (when given) to show, check (when given) to judge the
// peer, verify_mode as SSL_CTX_set_verify takes it. Session tickets are issued (server) and kept
// for the next connection (client) when resumption is true.
Status configure(SSL_CTX* ctx, bool server, const std::optional<TlsIdentity>& identity,
                 const PeerCheck* check, int verify_mode, bool resumption);

// The refusal the handshake's check recorded on ssl, if it refused the peer.
std::optional<Error> refusal(SSL* ssl);

// The peer of a finished handshake, checked again (a resumed session skipped the check):
// bad_certificate when there is none and one is required.
Result<std::optional<pki::Certificate>> check_session(const PeerCheck& check, SSL* ssl);

// The refusal a TLS alert from the peer stands for, if an OpenSSL error is one.
std::optional<Error> refusal_from_alert(unsigned long error);

// Client side: the session the server last gave on a connection of ctx, to resume with (a new
// reference, or null). Kept only when ctx was configured with resumption.
SSL_SESSION* last_session(SSL_CTX* ctx);

}  // namespace ecash::net::tls
