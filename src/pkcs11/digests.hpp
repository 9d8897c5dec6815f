// SPDX-License-Identifier: Apache-2.0
// Digests: computed here, in the module's own OpenSSL context (no key,
// nothing for a node to do).
#pragma once

#include <memory>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

struct session;

struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;

CK_RV digest_init(session& s, CK_MECHANISM_PTR m);
CK_RV digest(session& s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV digest_update(session& s, CK_BYTE_PTR data, CK_ULONG len);
/// The keys are sensitive: none can be hashed into a digest.
CK_RV digest_key(session& s, CK_OBJECT_HANDLE key);
CK_RV digest_final(session& s, CK_BYTE_PTR out, CK_ULONG_PTR out_len);

} // namespace hsm::p11
