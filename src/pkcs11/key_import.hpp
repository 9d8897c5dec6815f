// SPDX-License-Identifier: Apache-2.0
// A key an application brings (C_CreateObject): its parts as a template
// gives them (CKA_VALUE, CKA_MODULUS, ...), put by OpenSSL, in the module's
// own library context, in the form a node imports: a secret key's bytes, a
// private key's DER, a public key's SubjectPublicKeyInfo DER. The node
// checks the key again; this only puts it in shape.
#pragma once

#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/secret.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

/// The longest part of a key the nodes take (an RSA-4096 modulus or
/// private exponent is 512 bytes).
inline constexpr std::size_t max_key_part = 1024;

/// The parts of one key, wiped when they go.
class key_parts {
public:
    key_parts() = default;
    key_parts(const key_parts&) = delete;
    key_parts& operator=(const key_parts&) = delete;
    ~key_parts();

    /// Keeps `value` as part `type`; false when the template gave it already.
    bool add(CK_ATTRIBUTE_TYPE type, std::span<const std::uint8_t> value);
    /// Part `type`, or null when the template did not give it.
    const std::vector<std::uint8_t>* find(CK_ATTRIBUTE_TYPE type) const noexcept;

private:
    std::vector<std::pair<CK_ATTRIBUTE_TYPE, std::vector<std::uint8_t>>> parts_;
};

/// Whether attribute `type` is a part of a key of class `c` and type `t`:
/// CKA_VALUE of a secret or EC private key, CKA_EC_POINT of an EC public
/// key, an RSA key's modulus, public exponent and (private) the rest.
bool is_key_part(key_class c, key_type t, CK_ATTRIBUTE_TYPE type) noexcept;

/// An EC point on a curve of `curve_bits` as the standard has it (a DER
/// OCTET STRING, CKA_EC_POINT) or as some applications give it (bare): the
/// bare uncompressed point; nullopt for anything else.
std::optional<bytes> bare_point(const bytes& given, int curve_bits);

/// The key as a node imports it, in hex: CKR_TEMPLATE_INCOMPLETE when a
/// part is missing, CKR_ATTRIBUTE_VALUE_INVALID when the parts make no key
/// (or an RSA exponent other than 65537, the nodes' own). `curve_bits` is
/// CKA_EC_PARAMS's curve (256, 384) for EC keys.
std::variant<CK_RV, secret> key_material_of(key_class c, key_type t, int curve_bits,
                                            const key_parts& parts);

} // namespace hsm::p11
