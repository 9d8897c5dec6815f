// SPDX-License-Identifier: Apache-2.0
// A node's key as a PKCS#11 object: its attributes (with the two-call size
// convention and the per-attribute errors of the specification), template
// matching for C_FindObjects, and the signature formats PKCS#11 expects.
#pragma once

#include "hsmsh/protocol/payloads.hpp"

#include <array>
#include <optional>
#include <span>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

using bytes = std::vector<std::uint8_t>;

/// An attribute's value as the object holds it, or why it has none:
/// CKR_ATTRIBUTE_SENSITIVE (a secret part) or CKR_ATTRIBUTE_TYPE_INVALID.
struct attribute_value {
    CK_RV error = CKR_OK;
    bytes value;
};

attribute_value attribute_of(const key_summary& k, CK_ATTRIBUTE_TYPE type);

/// What every key of class `cls` answers alike for `type` (CKA_MODIFIABLE
/// true, CKA_COPYABLE and CKA_ALWAYS_AUTHENTICATE false, empty dates and
/// subject, no recovery): the value, or nullopt when `type` is not one of
/// them for the class. A template may state them, with these values.
std::optional<bytes> fixed_attribute(key_class cls, CK_ATTRIBUTE_TYPE type);

/// C_GetAttributeValue over one object: fills what fits, sets
/// CK_UNAVAILABLE_INFORMATION where it cannot, and returns the first error
/// of the specification's order (sensitive, type invalid, buffer too small).
CK_RV fill_attributes(const key_summary& k, CK_ATTRIBUTE* tmpl, CK_ULONG count);

/// Whether every attribute of the template has this object's value.
bool matches(const key_summary& k, const CK_ATTRIBUTE* tmpl, CK_ULONG count);

/// The signature in PKCS#11's format: ECDSA as r || s, each as long as the
/// curve's order; others as they are. Nullopt if a DER signature does not parse.
std::optional<bytes> pkcs11_signature(const key_summary& k, const bytes& node_signature);

/// PKCS#11's ECDSA signature (r || s) as the node takes it (DER);
/// nullopt when its length is not twice the curve's.
std::optional<bytes> der_signature(const key_summary& k, const bytes& pkcs11_signature);

/// DER of the named curves' object identifiers, as CKA_EC_PARAMS holds them.
/// Constants without destructors, as every static of the module (a host may
/// call in while static destructors run at its exit).
inline constexpr std::array<std::uint8_t, 10> p256_oid{0x06, 0x08, 0x2a, 0x86, 0x48,
                                                       0xce, 0x3d, 0x03, 0x01, 0x07};
inline constexpr std::array<std::uint8_t, 7> p384_oid{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
/// Ed25519 (RFC 8410's id-Ed25519, 1.3.101.112), a CKK_EC_EDWARDS key's CKA_EC_PARAMS.
inline constexpr std::array<std::uint8_t, 5> ed25519_oid{0x06, 0x03, 0x2b, 0x65, 0x70};

} // namespace hsm::p11
