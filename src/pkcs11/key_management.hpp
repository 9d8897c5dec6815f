// SPDX-License-Identifier: Apache-2.0
// Keys made, changed and destroyed through the module: cluster-wide changes
// of a logged-in user in a read/write session.
#pragma once

#include "hsmsh/protocol/wire.hpp"

#include <cstddef>
#include <optional>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

struct session;

CK_RV generate_key(session& s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                   CK_OBJECT_HANDLE_PTR key);
CK_RV generate_key_pair(session& s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR public_tmpl,
                        CK_ULONG public_count, CK_ATTRIBUTE_PTR private_tmpl,
                        CK_ULONG private_count, CK_OBJECT_HANDLE_PTR public_key,
                        CK_OBJECT_HANDLE_PTR private_key);
/// C_CreateObject: a key imported (requests.hpp's import_request).
CK_RV create_object(session& s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR object);
/// C_CopyObject: a public key or certificate brought in again (requests.hpp's copy_request).
CK_RV copy_object(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                  CK_OBJECT_HANDLE_PTR copy);
CK_RV destroy_object(session& s, CK_OBJECT_HANDLE o);
/// One key made by `op` (generate_key, import_key, unwrap_key) with
/// `request`, on node `on` when given (one holding what the request names),
/// as a token key (inserted on every node) or a session key.
CK_RV make_key(session& s, operation op, const json& request, bool token, CK_OBJECT_HANDLE_PTR key,
               std::optional<std::size_t> on);
CK_RV set_attribute_value(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count);

} // namespace hsm::p11
