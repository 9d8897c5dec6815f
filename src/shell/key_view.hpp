// SPDX-License-Identifier: Apache-2.0
// How keys look: CMU's findAllKeys, getKeyInfo, listAttributes and
// getAttribute blocks, and what servers that disagree on keys are told.
#pragma once

#include "hsmsh/outcome.hpp"

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace hsm {

/// "8(s),9(s),19(o)": each handle, owned (o) or shared (s).
std::string key_handle_list(const found_keys& keys);

/// One server's findAllKeys block; a failure as the command's failed line.
void print_found_keys(std::ostream& out, std::string_view command, const server_report& r);

/// Lines naming the servers whose keys of the user differ from the others'
/// (handles, or the key hash when it was asked for); none when all agree.
std::vector<std::string> key_disagreements(const std::vector<server_report>& reports);

/// One server's getKeyInfo block, in CMU's layout.
void print_key_info(std::ostream& out, std::string_view command, const server_report& r);

/// The listAttributes table.
void print_attribute_list(std::ostream& out);

/// An attribute's value as CMU prints it (0x00000001 for true, the class
/// and key type as PKCS#11's numbers, the label as text, the id in hex);
/// nullopt when the key has no such value or the shell does not show it.
std::optional<std::string> attribute_value(const key_summary& k, key_attribute a);

/// One server's getAttribute block: every attribute for OBJ_ATTR_ALL.
void print_attribute(std::ostream& out, std::string_view command, const server_report& r,
                     const attribute_info& a);

} // namespace hsm
