// SPDX-License-Identifier: Apache-2.0
// A node's data object as a PKCS#11 object (CKO_DATA): an application's
// bytes with the names it gives them (CKA_APPLICATION, CKA_OBJECT_ID),
// packed by the module into the one value the node keeps and never reads.
#pragma once

#include "hsmsh/protocol/payloads.hpp"
#include "key_object.hpp"

#include <optional>
#include <span>
#include <string>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

inline constexpr std::size_t max_data_application = 255; // bytes of CKA_APPLICATION
inline constexpr std::size_t max_data_object_id = 128;   // bytes of CKA_OBJECT_ID (DER)
inline constexpr std::size_t max_data_value = 64 * 1024; // bytes of CKA_VALUE

/// What a data object holds.
struct data_contents {
    std::string application;
    bytes object_id;
    bytes value;
};

/// The node's value for `d`: a format byte (1), the application and the
/// object id each with its two-byte length, then the value to the end.
bytes pack_data(const data_contents& d);
/// The parts of a node's value; nullopt when it is not one pack_data made.
/// A value packed before the format byte (each of the three parts with its
/// two-byte length, so its first byte, the application's length's high
/// byte, is 0) is read too.
std::optional<data_contents> unpack_data(std::span<const std::uint8_t> packed);

/// An attribute of data object `k` (key_object.hpp's attribute_of for the
/// data class): CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE and the storage
/// attributes; CKR_ATTRIBUTE_TYPE_INVALID for others.
attribute_value data_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type);

} // namespace hsm::p11
