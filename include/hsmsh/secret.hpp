// SPDX-License-Identifier: Apache-2.0
// A string for passwords: wiped when it changes or dies, never printed.
#pragma once

#include <string>
#include <string_view>

namespace hsm {

/// Overwrites `n` bytes at `p` in a way the compiler cannot elide.
void wipe(void* p, std::size_t n) noexcept;

/// Wipes the whole capacity of a std::string, then clears it.
void wipe(std::string& s) noexcept;

/// Owns a secret. Copies are explicit (`clone`), moves leave the source empty,
/// and the storage is wiped on destruction.
class secret {
public:
    secret() = default;
    explicit secret(std::string value) noexcept : value_(std::move(value)) {}
    secret(const secret&) = delete;
    secret& operator=(const secret&) = delete;
    secret(secret&& other) noexcept : value_(std::move(other.value_)) { wipe(other.value_); }
    secret& operator=(secret&& other) noexcept;
    ~secret() { wipe(value_); }

    secret clone() const { return secret(value_); }
    std::string_view view() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }
    std::size_t size() const noexcept { return value_.size(); }

    /// Constant-time comparison of the contents (length is not hidden).
    bool equals(const secret& other) const noexcept;

private:
    std::string value_;
};

} // namespace hsm
