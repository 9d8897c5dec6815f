// SPDX-License-Identifier: Apache-2.0
// The signed authdata file as the shell reads it back, typed: its entries
// and its public key, with one total decoder (authdata.hpp checks them).
#pragma once

#include "hsmsh/protocol/wire.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsm {

/// One entry of "Data", as given: base64 left undecoded; a field that is
/// absent or not a string reads as empty.
struct authdata_entry {
    std::string hsm_id;    // "HsmId"
    std::string digest;    // "Digest"
    std::string signature; // "Signature", added by the officer
};

/// The file: its entries that are objects, in order, and "PublicKey" (a
/// PEM; empty when absent or not a string).
struct authdata_file {
    std::vector<authdata_entry> data;
    std::string public_key;
};

/// Nullopt unless `doc` is an object with a "Data" array. Never throws but
/// for memory.
std::optional<authdata_file> authdata_file_from(const json& doc);

} // namespace hsm
