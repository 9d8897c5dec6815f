// SPDX-License-Identifier: Apache-2.0
// C_Digest*: SHA-2 in the module's own OpenSSL library context.
#include "digests.hpp"

#include "library.hpp"
#include "openssl_context.hpp"
#include "sessions.hpp"

namespace hsm::p11 {
namespace {

struct md_free {
    void operator()(EVP_MD* m) const noexcept { EVP_MD_free(m); }
};

const char* digest_name(CK_MECHANISM_TYPE m) {
    switch (m) {
    case CKM_SHA_1:
        return "SHA1";
    case CKM_SHA224:
        return "SHA2-224";
    case CKM_SHA256:
        return "SHA2-256";
    case CKM_SHA384:
        return "SHA2-384";
    case CKM_SHA512:
        return "SHA2-512";
    default:
        return nullptr;
    }
}

// The session's digest, under its mutex. The size query and a short
// buffer leave it on; any other error ends it.
EVP_MD_CTX* active_digest(session& s) {
    require(s.digest != nullptr, CKR_OPERATION_NOT_INITIALIZED);
    return s.digest.get();
}

CK_RV digest_size(session& s, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    auto* d = active_digest(s);
    if (!out_len) {
        s.digest.reset();
        return CKR_ARGUMENTS_BAD;
    }
    auto size = static_cast<CK_ULONG>(EVP_MD_CTX_get_size(d));
    if (out && *out_len >= size) return CKR_OK;
    bool query = !out;
    *out_len = size;
    return query ? CKR_OK : CKR_BUFFER_TOO_SMALL;
}

CK_RV update_locked(session& s, CK_BYTE_PTR data, CK_ULONG len) {
    auto* d = active_digest(s);
    if ((!data && len) || EVP_DigestUpdate(d, data, len) != 1) {
        s.digest.reset();
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

CK_RV final_locked(session& s, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    if (auto rv = digest_size(s, out, out_len); rv != CKR_OK || !out) return rv;
    unsigned int n = 0;
    auto ok = EVP_DigestFinal_ex(s.digest.get(), out, &n) == 1;
    s.digest.reset();
    *out_len = n;
    return ok ? CKR_OK : CKR_FUNCTION_FAILED;
}

} // namespace

CK_RV digest_init(session& s, CK_MECHANISM_PTR m) {
    require(m != nullptr, CKR_ARGUMENTS_BAD);
    std::lock_guard lock(s.mutex);
    require(!s.digest, CKR_OPERATION_ACTIVE);
    const char* name = digest_name(m->mechanism);
    require(name != nullptr, CKR_MECHANISM_INVALID);
    require(!m->pParameter && !m->ulParameterLen, CKR_MECHANISM_PARAM_INVALID);
    // Fetched from the module's context: never a provider of the host's.
    std::unique_ptr<EVP_MD, md_free> md(EVP_MD_fetch(module_libctx(), name, nullptr));
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    require(md && ctx && EVP_DigestInit_ex(ctx.get(), md.get(), nullptr) == 1, CKR_HOST_MEMORY);
    s.digest = std::move(ctx);
    return CKR_OK;
}

CK_RV digest(session& s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    std::lock_guard lock(s.mutex);
    // The size is known before any data is hashed.
    if (auto rv = digest_size(s, out, out_len); rv != CKR_OK || !out) return rv;
    if (auto rv = update_locked(s, data, len); rv != CKR_OK) return rv;
    return final_locked(s, out, out_len);
}

CK_RV digest_update(session& s, CK_BYTE_PTR data, CK_ULONG len) {
    std::lock_guard lock(s.mutex);
    return update_locked(s, data, len);
}

CK_RV digest_key(session&, CK_OBJECT_HANDLE) {
    return CKR_KEY_INDIGESTIBLE;
}

CK_RV digest_final(session& s, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    std::lock_guard lock(s.mutex);
    return final_locked(s, out, out_len);
}

} // namespace hsm::p11
