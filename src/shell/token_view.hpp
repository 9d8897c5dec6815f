// SPDX-License-Identifier: Apache-2.0
// What an approver signs: a quorum token file's one request, in words.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace hsm {

/// The text an approver reads before signing the token file at `path`
/// (its bytes `data`): the service, the officer who asked, how many HSMs'
/// tokens, when they were made, the file's SHA-256 and the openssl line.
/// Throws usage_error when the file is not the records of one getToken (one
/// service, one officer: the nodes refuse any other), saying what it holds.
std::string describe_token_file(std::string_view path, std::string_view data);

} // namespace hsm
