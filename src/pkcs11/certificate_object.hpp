// SPDX-License-Identifier: Apache-2.0
// A node's certificate as a PKCS#11 object (CKO_CERTIFICATE, CKC_X_509):
// what its DER says of itself, under the standard's attribute names.
#pragma once

#include "hsmsh/protocol/payloads.hpp"
#include "key_object.hpp"

#include <optional>
#include <span>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

/// The parts of an X.509 certificate PKCS#11 names, each in DER: CKA_SUBJECT,
/// CKA_ISSUER, CKA_SERIAL_NUMBER (the INTEGER), CKA_PUBLIC_KEY_INFO.
struct certificate_names {
    bytes subject;
    bytes issuer;
    bytes serial_number;
    bytes public_key_info;
};

/// The names of certificate `der`; nullopt when it is not wholly one.
std::optional<certificate_names> names_of_certificate(std::span<const std::uint8_t> der);

/// An attribute of certificate `k` (key_object.hpp's attribute_of for the
/// certificate class): CKA_VALUE and the names its DER gives, CKA_CHECK_VALUE,
/// the storage attributes; CKR_ATTRIBUTE_TYPE_INVALID for what a
/// certificate does not have (a key's attributes among them).
attribute_value certificate_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type);

} // namespace hsm::p11
