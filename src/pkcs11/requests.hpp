// SPDX-License-Identifier: Apache-2.0
// What a PKCS#11 call asks of the nodes: a key generation request from the
// application's templates, and a node mechanism (with its parameters) from
// a CK_MECHANISM. Pure: checked here, re-checked by the node.
#pragma once

#include "hsmsh/protocol/keys.hpp"
#include "key_object.hpp"
#include "mechanism_table.hpp"

#include <string>
#include <variant>

namespace hsm::p11 {

/// A generate_key request ({"spec", "label", "id", "attributes", "session"}) for
/// C_GenerateKey (`public_tmpl` empty) or C_GenerateKeyPair. The error is
/// the specification's: CKR_MECHANISM_INVALID, CKR_TEMPLATE_INCOMPLETE
/// (no curve, no modulus size), CKR_ATTRIBUTE_VALUE_INVALID (a curve, size,
/// exponent or label the nodes do not make), CKR_TEMPLATE_INCONSISTENT
/// (the halves of a pair asking for a token and a session object, an
/// key that is not sensitive, a class or type that is not the mechanism's),
/// CKR_ATTRIBUTE_TYPE_INVALID (an attribute no key has). A session key
/// ("session": true) unless the template says CKA_TOKEN true.
struct generation {
    json request;      // generate_key's fields
    bool token = true; // false: a session key
};
std::variant<CK_RV, generation>
generation_request(CK_MECHANISM_TYPE mechanism, const CK_ATTRIBUTE* public_tmpl,
                   CK_ULONG public_count, const CK_ATTRIBUTE* private_tmpl, CK_ULONG private_count);

/// An import_key request ({"class", "type", "material", "label", "id",
/// "attributes", "session"}) for C_CreateObject of a secret key (AES,
/// generic secret: CKA_VALUE), a public key (RSA: CKA_MODULUS and
/// CKA_PUBLIC_EXPONENT; EC: CKA_EC_PARAMS and CKA_EC_POINT) or a private
/// key (RSA: all eight parts; EC: CKA_EC_PARAMS and CKA_VALUE): the
/// specification's errors as generation_request's, and CKR_TEMPLATE_INCOMPLETE
/// for a missing class, type or part. The material, in hex, is a secret:
/// the caller wipes the request (wipe_data) when it is sent.
std::variant<CK_RV, generation> import_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count);

/// A C_UnwrapKey template's unwrap_key request ({"class", "type", "label",
/// "id", "attributes", "session"}; the caller adds the unwrapping key, the
/// mechanism and the data): a secret or private key (a public key is
/// CKR_TEMPLATE_INCONSISTENT), whose size the wrapped key gives
/// (CKA_MODULUS_BITS or CKA_EC_PARAMS: CKR_ATTRIBUTE_READ_ONLY), never
/// local; the specification's errors as import_request's. The unwrapping
/// key's template (`made_so`, its CKA_UNWRAP_TEMPLATE) applies first: what
/// the application's template says against it is CKR_TEMPLATE_INCONSISTENT.
std::variant<CK_RV, generation> unwrap_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count,
                                               const std::optional<key_template>& made_so);

/// A C_DeriveKey template's derive_key request: unwrap_request's of a
/// secret key, with its CKA_VALUE_LEN (1 to 64 bytes: CKR_TEMPLATE_INCOMPLETE
/// without it, CKR_ATTRIBUTE_VALUE_INVALID beyond).
std::variant<CK_RV, generation> derivation_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count);

/// C_CopyObject of `original`, a public key or a certificate (a secret or
/// private key is not copyable: CKR_ACTION_PROHIBITED): an import_key
/// request of its public DER with its attributes, changed where `tmpl` says
/// (CKA_LABEL, CKA_ID, CKA_TOKEN, CKA_PRIVATE, the usage flags
/// C_SetAttributeValue changes; another attribute stating another value is
/// CKR_ATTRIBUTE_READ_ONLY). The copy is brought in (CKA_LOCAL false).
std::variant<CK_RV, generation> copy_request(const key_summary& original, const CK_ATTRIBUTE* tmpl,
                                             CK_ULONG count);

/// The node mechanism for `m` used with `k` for `op`, its parameters
/// checked: CKR_MECHANISM_INVALID (not ours, or not for this key or use),
/// CKR_MECHANISM_PARAM_INVALID (a PSS salt other than the digest's length,
/// an OAEP hash other than SHA-256, a GCM IV buffer not 12 bytes or a tag
/// not 128 bits), CKR_KEY_TYPE_INCONSISTENT (a public key to sign, ...).
std::variant<CK_RV, node_mechanism> node_mechanism_for(const CK_MECHANISM& m, const key_summary& k,
                                                       key_operation op);

/// Whether `input` bytes suit the mechanism: ECB and unpadded CBC take
/// whole blocks, a padded decryption at least one
/// (CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_LEN_RANGE).
CK_RV input_fits(const node_mechanism& m, key_operation op, std::size_t input);

/// The largest output of `op` on `input` bytes with this key and mechanism
/// (decryption's is a bound; the exact size comes with the result).
std::size_t output_bound(const key_summary& k, const node_mechanism& m, key_operation op,
                         std::size_t input);

} // namespace hsm::p11
