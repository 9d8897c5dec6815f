// SPDX-License-Identifier: Apache-2.0
// A node's data directory and the cluster life cycle: create, initialize, describe, clone.
#pragma once

#include "crypto/cluster_keys.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "store/node_store.hpp"

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace hsm {

namespace fs = std::filesystem;

/// Raised when a life-cycle step is refused; `what()` is the StateMessage.
struct lifecycle_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The files of one node's data directory (docs/design.md, "Files").
struct node_paths {
    fs::path dir;
    fs::path database() const { return dir / "hsm.db"; }
    fs::path key() const { return dir / "cluster.key"; }
    fs::path csr() const { return dir / "cluster.csr"; }
    fs::path certificate() const { return dir / "cluster.crt"; }
    fs::path trust_anchor() const { return dir / "trust-anchor.crt"; }
    fs::path masking_key() const { return dir / "masking.key"; }
    // This node's own identity among its peers (not copied by clone).
    fs::path node_key() const { return dir / "node.key"; }
    fs::path node_csr() const { return dir / "node.csr"; }
    fs::path node_certificate() const { return dir / "node.crt"; }
    // The customer CA's revocation lists, when the operator installs them.
    fs::path revocation_list() const { return dir / "crl.pem"; }
};

/// The node's cluster keys; a node made before they existed gets a new
/// masking key here (copy node0's file to its clones to seal between them).
/// Throws lifecycle_error when there is no node.
cluster_keys load_cluster_keys(const node_paths& paths);

/// The node's store, its audit chain keyed by the cluster keys. Throws
/// lifecycle_error when there is no node.
node_store open_store(const node_paths& paths);

inline constexpr std::size_t max_pem_characters = 5000;

/// A new data directory with the cluster key pair and masking key (0600) and
/// a CSR naming the cluster id; state UNINITIALIZED. Throws lifecycle_error.
void create_cluster(const node_paths& paths, const std::string& cluster_id);

/// Claims the cluster (InitializeCluster): validates both certificates, stores
/// them, creates admin as PRECO with password "password". Changes nothing and
/// throws lifecycle_error on any violation.
void initialize_cluster(const node_paths& paths, const std::string& cluster_id,
                        const fs::path& signed_cert, const fs::path& trust_anchor,
                        std::uint32_t kdf_iterations);

/// The node's own key and CSR, made when missing (node.key 0600; node.csr
/// names the cluster id as CN and the HSM id as serialNumber): what a node
/// certificate answers. Throws lifecycle_error when there is no node.
void ensure_node_request(const node_paths& paths);

/// Installs a node certificate (install-node-certificate): issued by the
/// node's trust anchor, carrying node.key's public key, naming the cluster id
/// (CN) and this node's HSM id (serialNumber), and serverAuth and clientAuth.
/// With it the node speaks to its peers as itself, and only its own word
/// moves its entry in their lists. Changes nothing and throws
/// lifecycle_error on any violation.
void install_node_certificate(const node_paths& paths, const fs::path& signed_cert);

/// The node's state as describe prints it: ids, state, CSR, peers.
json describe_node(const node_paths& paths);

/// A new node of the same cluster with a new HSM id and a consistent copy of
/// the user store. Throws lifecycle_error.
void clone_node(const node_paths& from, const node_paths& to);

/// The database path of an existing node. Throws lifecycle_error when there is none.
std::string existing_database(const node_paths& paths);

/// The state stored in a data directory.
cluster_state node_state(const node_paths& paths);

} // namespace hsm
