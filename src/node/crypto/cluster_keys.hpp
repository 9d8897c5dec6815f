// SPDX-License-Identifier: Apache-2.0
// The cluster's masking key and the keys derived from it: sealing records
// that travel between nodes, keying record digests and the audit chain.
#pragma once

#include "hsmsh/sealing.hpp"

#include <filesystem>
#include <string_view>

namespace hsm {

/// Owns the 32-byte masking key; created by create-cluster, copied by clone,
/// never sent anywhere. Each use gets its own subkey (HMAC of a purpose
/// label), so that a digest can never serve as a sealing key. Wiped on
/// destruction.
class cluster_keys {
public:
    /// Throws std::invalid_argument unless `masking` is sealing_key_size bytes.
    explicit cluster_keys(bytes masking);
    cluster_keys(const cluster_keys&) = delete;
    cluster_keys& operator=(const cluster_keys&) = delete;
    cluster_keys(cluster_keys&&) noexcept = default;
    ~cluster_keys();

    /// A fresh random key.
    static cluster_keys generate();
    /// Reads the key file (hex). Throws std::runtime_error.
    static cluster_keys read(const std::filesystem::path& file);
    /// Writes the key file, mode 0600, atomically. Throws.
    void write(const std::filesystem::path& file) const;

    const bytes& sealing() const noexcept { return sealing_; }
    const bytes& digest() const noexcept { return digest_; }
    const bytes& audit() const noexcept { return audit_; }

private:
    bytes masking_, sealing_, digest_, audit_;
};

} // namespace hsm
