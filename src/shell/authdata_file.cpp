// SPDX-License-Identifier: Apache-2.0
// Decoding the signed authdata file (authdata_file.hpp).
#include "authdata_file.hpp"

namespace hsm {
namespace {

authdata_entry entry_from(const json& e) {
    return {string_field(e, "HsmId").value_or(""), string_field(e, "Digest").value_or(""),
            string_field(e, "Signature").value_or("")};
}

} // namespace

std::optional<authdata_file> authdata_file_from(const json& doc) {
    if (!doc.is_object()) return std::nullopt;
    auto data = doc.find("Data");
    if (data == doc.end() || !data->is_array()) return std::nullopt;
    authdata_file file{{}, string_field(doc, "PublicKey").value_or("")};
    for (const auto& e : *data)
        if (e.is_object()) file.data.push_back(entry_from(e));
    return file;
}

} // namespace hsm
