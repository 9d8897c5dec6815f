// SPDX-License-Identifier: Apache-2.0
// TLS 1.3 contexts for mutual authentication, trusting configured anchors only.
#pragma once

#include "hsmsh/asio.hpp"

#include <string>
#include <vector>

#include <openssl/types.h>

namespace hsm {

/// PEM texts for one end of a connection.
struct tls_identity {
    std::string certificate;          // our certificate
    std::string private_key;          // its key
    std::vector<std::string> anchors; // the CAs we trust for the other end
    std::vector<std::string> pinned;  // server only: fingerprints of pinned client certificates
    // Server only: certificate revocation lists (PEM texts, each may hold
    // several), each signed by one of `anchors`.
    std::vector<std::string> revocations;
};

/// A client context: TLS 1.3 only, our certificate, the peer verified against
/// `anchors` alone (never the system store or SSL_CERT_FILE) and required to
/// name serverAuth in its extended key usage (a node's certificate does, an
/// application's does not). Throws pki_error.
ssl::context make_client_context(const tls_identity& id);

/// The same in the OpenSSL library context `libctx`: the handshake, the
/// certificates and the key parsed and used with its providers alone
/// (the PKCS#11 module's own context, which its host's configuration cannot
/// route back into the module). Throws pki_error.
ssl::context make_client_context(const tls_identity& id, OSSL_LIB_CTX* libctx);

/// A server context: TLS 1.3 only, client certificates required and verified
/// against `anchors` (or pinned by fingerprint), no session tickets. A client
/// certificate listed in one of `revocations` is refused; an issuer with no
/// list has revoked nothing, and a list past its next update still revokes
/// what it names. Throws pki_error, also for a list that is not PEM or not
/// signed by one of `anchors`.
ssl::context make_server_context(const tls_identity& id);

/// The SHA-256 fingerprint of the peer's certificate, empty if none.
std::string peer_fingerprint(SSL* ssl);

/// The common name of the peer's certificate, empty if none.
std::string peer_common_name(SSL* ssl);

/// The peer's certificate in PEM, empty if none.
std::string peer_certificate_pem(SSL* ssl);

} // namespace hsm
