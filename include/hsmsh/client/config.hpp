// SPDX-License-Identifier: Apache-2.0
// The client configuration file (docs/design.md, "Files"; hsmsh.json(5)):
// clusters, servers, certificates.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hsm {

namespace fs = std::filesystem;

/// A configuration problem, naming the file and the field.
struct config_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct server_entry {
    std::string name;
    std::string hostname;
    std::uint16_t port = 2225;
};

struct cluster_config {
    std::string cluster_id; // empty: a CMU file that names none
    fs::path hsm_ca_cert;
    fs::path client_cert;
    fs::path client_key;
    std::vector<server_entry> servers;
    // The cluster certificate's fingerprint (every node holds the same one),
    // as configure and demo recorded it: empty, not pinned.
    std::string cluster_cert = {};
};

struct client_config {
    fs::path path;
    std::string default_cluster;
    std::vector<cluster_config> clusters;

    /// The cluster named `id`, or the default one when `id` is empty. Throws config_error.
    const cluster_config& select(const std::string& id) const;
    cluster_config& select(const std::string& id) {
        return const_cast<cluster_config&>(std::as_const(*this).select(id));
    }
};

inline constexpr std::size_t max_config_size = 1024 * 1024;

/// -c, else $HSMSH_CONFIG, else $XDG_CONFIG_HOME/hsmsh/hsmsh.json (or
/// ~/.config/...), else /etc/hsmsh/hsmsh.json.
fs::path default_config_path();

/// The configuration of this user: $HSMSH_CONFIG, else
/// $XDG_CONFIG_HOME/hsmsh/hsmsh.json, else ~/.config/hsmsh/hsmsh.json,
/// whether it exists or not; empty without HOME. Never the system's.
fs::path user_config_path();

/// Reads our format or a CMU cloudhsm_mgmt_util.cfg; relative paths are made
/// relative to the file's directory. Throws config_error.
client_config load_config(const fs::path& path);

/// Our format, with paths as given.
nlohmann::json config_to_json(const client_config& config);

/// Writes atomically with mode 0600. Throws config_error.
void save_config(const client_config& config);

} // namespace hsm
