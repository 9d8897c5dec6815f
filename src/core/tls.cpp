// SPDX-License-Identifier: Apache-2.0
// TLS 1.3 contexts for mutual authentication.
#include "hsmsh/tls.hpp"

#include "hsmsh/pki.hpp"

#include <algorithm>
#include <optional>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

struct bio_free {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

bio_ptr pem_bio(const std::string& pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw pki_error("TLS set-up: out of memory");
    return bio;
}

// Every certificate of a PEM text, each parsed in `libctx`.
std::vector<x509_ptr> read_certificates(const std::string& pem, OSSL_LIB_CTX* libctx) {
    auto bio = pem_bio(pem);
    std::vector<x509_ptr> out;
    for (;;) {
        X509* cert = X509_new_ex(libctx, nullptr);
        if (!cert) throw pki_error("TLS set-up: out of memory");
        // On failure PEM_read_bio_X509 may free `cert` (and null it), or not.
        if (!PEM_read_bio_X509(bio.get(), &cert, nullptr, nullptr)) {
            X509_free(cert);
            break;
        }
        out.emplace_back(cert);
    }
    ERR_clear_error(); // the end of the text reads as an error
    if (out.empty()) throw pki_error("TLS set-up: no certificate in a PEM text");
    return out;
}

void load_identity(SSL_CTX* native, const tls_identity& id, OSSL_LIB_CTX* libctx) {
    if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1)
        throw pki_error("cannot require TLS 1.3");
    // Only the anchors we are given: the store starts empty.
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const auto& anchor : id.anchors)
        for (auto& cert : read_certificates(anchor, libctx))
            if (X509_STORE_add_cert(store, cert.get()) != 1)
                throw pki_error("TLS set-up: cannot add a trust anchor");
    auto chain = read_certificates(id.certificate, libctx);
    if (SSL_CTX_use_certificate(native, chain.front().get()) != 1)
        throw pki_error("TLS set-up: the certificate is refused");
    for (std::size_t i = 1; i < chain.size(); ++i)
        if (SSL_CTX_add1_chain_cert(native, chain[i].get()) != 1)
            throw pki_error("TLS set-up: a chain certificate is refused");
    auto bio = pem_bio(id.private_key);
    pkey_ptr key(PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, nullptr, nullptr, libctx, nullptr));
    if (!key || SSL_CTX_use_PrivateKey(native, key.get()) != 1)
        throw pki_error("TLS set-up: the private key is refused");
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

// What a revocation check may say without refusing: the issuer has no list
// (it revoked nothing we know of), or the list is out of its dates (what it
// names stays revoked: a late list must not let a revoked node back in, nor
// lock every client out). CERT_REVOKED is never here.
bool revocation_may_pass(int error) {
    return error == X509_V_ERR_UNABLE_TO_GET_CRL || error == X509_V_ERR_CRL_HAS_EXPIRED ||
           error == X509_V_ERR_CRL_NOT_YET_VALID;
}

// Whether the list is one OpenSSL applies as a complete list of its issuer:
// no delta list or distribution-point scope (skipped by a CRL_CHECK, so the
// certificates they name would pass) and no critical extension it does not
// handle, on the list or an entry (that would fail every client of the CA).
std::optional<std::string> unusable(X509_CRL* crl) {
    for (int i = 0; i < X509_CRL_get_ext_count(crl); ++i) {
        X509_EXTENSION* ext = X509_CRL_get_ext(crl, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_delta_crl) return "a delta list (give complete lists)";
        if (nid == NID_issuing_distribution_point)
            return "a list of one distribution point (give complete lists)";
        if (X509_EXTENSION_get_critical(ext) && nid != NID_authority_key_identifier)
            return "a critical extension this node does not handle";
    }
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
        const X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, i);
        const STACK_OF(X509_EXTENSION)* exts = X509_REVOKED_get0_extensions(entry);
        for (int j = 0; j < sk_X509_EXTENSION_num(exts); ++j)
            if (X509_EXTENSION_get_critical(sk_X509_EXTENSION_value(exts, j)))
                return "an entry with a critical extension this node does not handle";
    }
    return std::nullopt;
}

// Every revocation list of a PEM text, each checked against the anchors in
// `store` (its issuer among them, its signature theirs) and added to it. A
// block that does not read as a list refuses the whole text: lists after it
// must not be dropped in silence.
void add_revocations(X509_STORE* store, const std::vector<std::string>& texts) {
    for (const auto& text : texts) {
        auto bio = pem_bio(text);
        int read = 0;
        ERR_clear_error();
        for (;;) {
            X509_CRL* raw = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
            if (!raw) break;
            std::unique_ptr<X509_CRL, decltype(&X509_CRL_free)> crl(raw, X509_CRL_free);
            ++read;
            bool signed_by_anchor = false;
            STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
            for (int i = 0; i < sk_X509_OBJECT_num(objects) && !signed_by_anchor; ++i) {
                X509* ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
                signed_by_anchor =
                    ca &&
                    X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl.get())) == 0 &&
                    X509_CRL_verify(crl.get(), X509_get0_pubkey(ca)) == 1;
            }
            if (!signed_by_anchor) throw pki_error("revocation list: not signed by a trusted CA");
            if (auto why = unusable(crl.get())) throw pki_error("revocation list: " + *why);
            if (X509_STORE_add_crl(store, crl.get()) != 1)
                throw pki_error("revocation list: cannot be added");
        }
        // The text's end reads as "no start line"; anything else is a block
        // that is not a list.
        unsigned long error = ERR_peek_last_error();
        ERR_clear_error();
        if (read == 0) throw pki_error("revocation list: no X509 CRL in the PEM text");
        if (error != 0 &&
            !(ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE))
            throw pki_error("revocation list: a block that does not read as a list");
    }
    // The whole chain: a revoked intermediate refuses every certificate it issued.
    if (!texts.empty() &&
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) != 1)
        throw pki_error("revocation list: cannot turn checking on");
}

// A server must be a node: its certificate names serverAuth, which an
// application's certificate from the same CA does not.
void require_server_use(ssl::context& ctx) {
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.set_verify_callback([](bool preverified, ssl::verify_context& vc) {
        X509_STORE_CTX* store = vc.native_handle();
        if (!preverified || X509_STORE_CTX_get_error_depth(store) != 0) return preverified;
        X509* cert = X509_STORE_CTX_get_current_cert(store);
        if (cert && names_server_use(cert)) return true;
        X509_STORE_CTX_set_error(store, X509_V_ERR_INVALID_PURPOSE);
        return false;
    });
}

} // namespace

ssl::context make_client_context(const tls_identity& id) {
    ssl::context ctx(ssl::context::tls_client);
    load_identity(ctx, id);
    require_server_use(ctx);
    return ctx;
}

ssl::context make_client_context(const tls_identity& id, OSSL_LIB_CTX* libctx) {
    SSL_CTX* native = SSL_CTX_new_ex(libctx, nullptr, TLS_client_method());
    if (!native) throw pki_error("TLS set-up: cannot make a context");
    ssl::context ctx(native); // owns it from here
    load_identity(native, id, libctx);
    require_server_use(ctx);
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
    add_revocations(SSL_CTX_get_cert_store(native), id.revocations);
    if (!id.pinned.empty() || !id.revocations.empty()) {
        ctx.set_verify_callback([pinned = id.pinned](bool preverified, ssl::verify_context& vc) {
            if (preverified) return true;
            X509_STORE_CTX* store = vc.native_handle();
            int error = X509_STORE_CTX_get_error(store);
            if (revocation_may_pass(error)) return true;
            X509* cert = X509_STORE_CTX_get_current_cert(store);
            if (!cert || X509_STORE_CTX_get_error_depth(store) != 0 || !pin_may_override(error))
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
