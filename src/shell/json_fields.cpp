// SPDX-License-Identifier: Apache-2.0
// One field of a JSON object the shell did not write (a node's reply, an authdata file).
#include "json_fields.hpp"

namespace hsm {

std::int64_t number_in(const json& j, const char* key) {
    auto it = j.is_object() ? j.find(key) : j.end();
    return j.is_object() && it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::string text_in(const json& j, const char* key) {
    auto it = j.is_object() ? j.find(key) : j.end();
    return j.is_object() && it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

json list_in(const json& j, const char* key) {
    auto it = j.is_object() ? j.find(key) : j.end();
    return j.is_object() && it != j.end() && it->is_array() ? *it : json::array();
}

} // namespace hsm
