// SPDX-License-Identifier: Apache-2.0
// Bounded file reads and atomic file writes.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hsm {

struct file_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Reads a whole file of at most `limit` bytes. Throws file_error naming the path.
std::string read_file(const std::filesystem::path& path, std::size_t limit);

/// Writes through a temporary file in the same directory: fsync, rename, fsync
/// the directory. A failure leaves the old file as it was. Throws file_error.
void write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode);

} // namespace hsm
