// SPDX-License-Identifier: Apache-2.0
// TLS 1.3 contexts for mutual authentication.
#include "hsmsh/tls.hpp"

#include "hsmsh/pki.hpp"

#include <algorithm>

#include <openssl/ssl.h>

namespace hsm {
namespace {

void load_identity(ssl::context& ctx, const tls_identity& id) {
    SSL_CTX* native = ctx.native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1)
        throw pki_error("cannot require TLS 1.3");
    try {
        // Only the anchors we are given: the context starts with an empty store,
        // and we never load the default paths.
        for (const auto& anchor : id.anchors)
            ctx.add_certificate_authority(asio::buffer(anchor));
        ctx.use_certificate_chain(asio::buffer(id.certificate));
        ctx.use_private_key(asio::buffer(id.private_key), ssl::context::pem);
    } catch (const boost::system::system_error& e) {
        throw pki_error(std::string("TLS set-up: ") + e.what());
    }
    if (SSL_CTX_check_private_key(native) != 1)
        throw pki_error("TLS set-up: the private key does not match the certificate");
}

template <typename Getter> std::string with_peer(SSL* ssl, Getter get) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    return cert ? get(cert) : std::string();
}

// Chain-building failures a pinned leaf may override; expiry and the like may not.
bool pin_may_override(int error) {
    switch (error) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return true;
    default:
        return false;
    }
}

} // namespace

ssl::context make_client_context(const tls_identity& id) {
    ssl::context ctx(ssl::context::tls_client);
    load_identity(ctx, id);
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
}

ssl::context make_server_context(const tls_identity& id) {
    ssl::context ctx(ssl::context::tls_server);
    load_identity(ctx, id);
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    SSL_CTX* native = ctx.native_handle();
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(native, 0);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    if (!id.pinned.empty()) {
        ctx.set_verify_callback([pinned = id.pinned](bool preverified, ssl::verify_context& vc) {
            if (preverified) return true;
            X509_STORE_CTX* store = vc.native_handle();
            X509* cert = X509_STORE_CTX_get_current_cert(store);
            if (!cert || X509_STORE_CTX_get_error_depth(store) != 0 ||
                !pin_may_override(X509_STORE_CTX_get_error(store)))
                return false;
            auto fp = fingerprint(cert);
            return std::find(pinned.begin(), pinned.end(), fp) != pinned.end();
        });
    }
    return ctx;
}

std::string peer_fingerprint(SSL* ssl) {
    return with_peer(ssl, [](X509* c) { return fingerprint(c); });
}

std::string peer_common_name(SSL* ssl) {
    return with_peer(ssl, [](X509* c) { return common_name(c); });
}

std::string peer_certificate_pem(SSL* ssl) {
    return with_peer(ssl, [](X509* c) { return cert_to_pem(c); });
}

} // namespace hsm
