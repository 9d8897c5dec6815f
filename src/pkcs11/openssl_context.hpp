// SPDX-License-Identifier: Apache-2.0
// The module's own OpenSSL library context: its hashing, key parsing and
// TLS never go through the providers its host configured.
#pragma once

#include <openssl/types.h>

namespace hsm::p11 {

/// The module's library context: OpenSSL's default provider loaded into it
/// explicitly, no configuration file applied (so a pkcs11-provider the host
/// lists in its openssl.cnf, which may load this very module, is never asked
/// to hash or sign for it). Made on first use, never freed: it outlives every
/// caller. Null only if OpenSSL could not make it.
OSSL_LIB_CTX* module_libctx() noexcept;

/// While it lives, the module's context is this thread's default, so that
/// any OpenSSL call of the module that names no context (inside Asio, say)
/// still uses it; the thread's previous default comes back at the end.
class openssl_scope {
public:
    openssl_scope() noexcept;
    ~openssl_scope();
    openssl_scope(const openssl_scope&) = delete;
    openssl_scope& operator=(const openssl_scope&) = delete;

private:
    OSSL_LIB_CTX* previous_ = nullptr;
    bool set_ = false;
};

} // namespace hsm::p11
