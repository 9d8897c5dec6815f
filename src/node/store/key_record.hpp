// SPDX-License-Identifier: Apache-2.0
// A key as a node stores it, and as it travels between nodes: sealed for
// the cluster, its material inside, so that neither the shell that carries
// it nor the database that keeps it can read it (docs/design.md, "Keys").
#pragma once

#include "crypto/key_crypto.hpp"
#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/sealing.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hsm {

/// One key row: its description in the clear, its material sealed.
struct key_record {
    std::int64_t handle = 0;
    key_class cls = key_class::secret_key;
    key_type type = key_type::aes;
    int bits = 0;
    std::string label;
    std::string id_hex;
    key_flags flags;
    std::int64_t owner = 0;           // a user id of this node
    std::vector<std::int64_t> shared; // user ids, ascending
    bytes public_der;                 // asymmetric keys: SubjectPublicKeyInfo
    bytes sealed;                     // sealed_key's output: the material is inside
    std::string material_digest;      // keyed digest of the material (hex)
    std::int64_t version = 1;         // bumped by every change of attributes or shares
};

/// What a sealed key carries: its description (owner and shares by name,
/// since user ids are each node's own), the material, and where the blob
/// came from: a fresh generation (insertable for a while) or a copy of a
/// key some node holds (syncable only onto the same key).
struct key_contents {
    key_record description; // owner, shared, sealed and material_digest unset
    std::string owner_name;
    std::vector<std::string> shared_names;
    key_material material;
    bool copy = false;          // sealed by get_sealed_key, not by a generation
    std::int64_t sealed_at = 0; // Unix ms, the sealing node's clock
};

/// How long a generated key may wait for its insertion: a generation that is
/// never inserted holds nothing, and its blob soon inserts nothing.
inline constexpr std::int64_t generated_key_lifetime_ms = 10 * 60 * 1000;
/// Clock skew between nodes that a sealing time may show.
inline constexpr std::int64_t sealing_clock_skew_ms = 60 * 1000;

/// Seals `k` under the cluster's sealing key, bound to the cluster and the
/// key's handle. Throws std::runtime_error.
bytes seal_key(std::span<const std::uint8_t> sealing_key, std::string_view cluster_id,
               const key_contents& k);

/// Opens a sealed key of handle `handle`; nullopt when it was not sealed by
/// this cluster for that handle, or does not describe a well-formed key.
std::optional<key_contents> open_key(std::span<const std::uint8_t> sealing_key,
                                     std::string_view cluster_id, std::int64_t handle,
                                     std::span<const std::uint8_t> sealed);

/// Whether a description is one a node accepts: a class its type can have,
/// a size of parse_key_spec, a label and id within bounds, flags that fit.
bool well_formed(const key_record& k) noexcept;

} // namespace hsm
