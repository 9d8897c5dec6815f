// SPDX-License-Identifier: Apache-2.0
// C_WrapKey and C_UnwrapKey: CKM_AES_KEY_WRAP (RFC 3394), CKM_AES_KEY_WRAP_KWP
// (RFC 5649) and CKM_AES_GCM, under the nodes' wrap policy (hsmsh-pkcs11(7),
// KEY TRANSPORT).
#pragma once

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

struct session;

/// C_WrapKey: the size when `out` is null; CKR_BUFFER_TOO_SMALL and the
/// size when it is short. A GCM wrapping's IV (the node's) is written where
/// its CK_GCM_PARAMS.pIv points.
CK_RV wrap_key(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
               CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/// C_DeriveKey with CKM_ECDH1_DERIVE: a secret key (CKA_VALUE_LEN bytes)
/// from an EC private key that may derive, never local.
CK_RV derive_key(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
                 CK_ULONG count, CK_OBJECT_HANDLE_PTR key);
/// C_UnwrapKey: a secret or private key (PKCS#8) as `tmpl` says, never local.
CK_RV unwrap_key(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR wrapped,
                 CK_ULONG wrapped_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                 CK_OBJECT_HANDLE_PTR key);

} // namespace hsm::p11
