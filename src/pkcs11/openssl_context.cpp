// SPDX-License-Identifier: Apache-2.0
// The module's own OpenSSL library context.
#include "openssl_context.hpp"

#include <mutex>

#include <openssl/crypto.h>
#include <openssl/provider.h>

namespace hsm::p11 {
namespace {

OSSL_LIB_CTX* make_libctx() noexcept {
    // OSSL_LIB_CTX_new reads no configuration: only what is loaded here.
    OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
    if (!ctx) return nullptr;
    if (!OSSL_PROVIDER_load(ctx, "default")) {
        OSSL_LIB_CTX_free(ctx);
        return nullptr;
    }
    return ctx;
}

} // namespace

OSSL_LIB_CTX* module_libctx() noexcept {
    // A plain pointer: no static destructor frees the context under a host
    // that still calls in (pkcs11-provider's clean-up at exit does).
    static OSSL_LIB_CTX* ctx = nullptr;
    static std::once_flag made;
    std::call_once(made, [] { ctx = make_libctx(); });
    return ctx;
}

openssl_scope::openssl_scope() noexcept {
    if (auto* ctx = module_libctx()) {
        previous_ = OSSL_LIB_CTX_set0_default(ctx);
        set_ = previous_ != nullptr;
    }
}

openssl_scope::~openssl_scope() {
    if (set_) OSSL_LIB_CTX_set0_default(previous_);
}

} // namespace hsm::p11
