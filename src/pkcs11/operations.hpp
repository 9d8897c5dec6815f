// SPDX-License-Identifier: Apache-2.0
// The operation state machine of a session: sign, verify, encrypt and
// decrypt, each begun by its *Init, fed by *Update, ended by its single-part
// call or *Final, and carried out by a node.
#pragma once

#include "requests.hpp"

namespace hsm::p11 {

struct session;

/// A sign, verify, encrypt or decrypt operation a session has begun.
struct active_operation {
    key_summary key;
    node_mechanism mechanism;
    bytes pending; // C_*Update's data so far
};

CK_RV operation_init(session& s, key_operation op, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE o);
CK_RV operation_update(session& s, key_operation op, CK_BYTE_PTR data, CK_ULONG len);
/// Single-part: the data at once (after no update). `signature` for verify.
CK_RV operation_once(session& s, key_operation op, CK_BYTE_PTR data, CK_ULONG len,
                     const bytes* signature, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/// Multi-part's end: what C_*Update gave.
CK_RV operation_final(session& s, key_operation op, const bytes* signature, CK_BYTE_PTR out,
                      CK_ULONG_PTR out_len);

// The entry points' shapes, one of each.
template <key_operation Op>
CK_RV operation_init_entry(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE o) {
    return operation_init(s, Op, m, o);
}
template <key_operation Op>
CK_RV operation_once_entry(session& s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
                           CK_ULONG_PTR out_len) {
    return operation_once(s, Op, data, len, nullptr, out, out_len);
}
template <key_operation Op>
CK_RV operation_update_entry(session& s, CK_BYTE_PTR data, CK_ULONG len) {
    return operation_update(s, Op, data, len);
}
/// Ciphers give nothing before the end (the node does the whole text at
/// once): an update keeps the data.
template <key_operation Op>
CK_RV cipher_update_entry(session& s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR,
                          CK_ULONG_PTR out_len) {
    if (!out_len) return CKR_ARGUMENTS_BAD;
    *out_len = 0;
    return operation_update(s, Op, data, len);
}
template <key_operation Op>
CK_RV operation_final_entry(session& s, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    return operation_final(s, Op, nullptr, out, out_len);
}
CK_RV verify(session& s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG sig_len);
CK_RV verify_final(session& s, CK_BYTE_PTR sig, CK_ULONG sig_len);

} // namespace hsm::p11
