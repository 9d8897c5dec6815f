// SPDX-License-Identifier: Apache-2.0
// `hsmsh demo`: a real local cluster built with the real commands.
#pragma once

#include "hsmsh/client/config.hpp"
#include "hsmsh/process.hpp"

#include <filesystem>
#include <ostream>
#include <thread>
#include <vector>

namespace hsm {

struct demo_options {
    std::size_t nodes = 3;
    fs::path dir;                     // empty: $XDG_STATE_HOME/hsmsh/demo
    fs::path hsmd;                    // empty: found next to hsmsh
    std::uint32_t kdf_iterations = 0; // 0: the node's default
    std::string cluster_id;           // empty: cluster-demo (or what dir was built with)
};

/// A running demo cluster; stops its nodes when destroyed.
class demo_cluster {
public:
    /// Creates the cluster under options.dir on first use (CA, create-cluster,
    /// signing, initialize-cluster, clones, client certificate), starts every
    /// node, and writes the config. Throws on failure.
    /// Watches the nodes from then on: one that exits is reported on `err`.
    demo_cluster(const demo_options& options, std::ostream& out, std::ostream& err);

    const fs::path& config_path() const noexcept { return config_path_; }

private:
    void build(const demo_options& options, std::ostream& out);
    void start(const demo_options& options);
    void watch(std::stop_token stop, std::ostream& err);
    /// The id the cluster in dir_ was built with (its configuration's).
    std::string built_cluster_id() const;

    fs::path dir_;
    fs::path config_path_;
    fs::path hsmd_;
    std::string cluster_id_;
    std::vector<child_process> nodes_;
    std::jthread watcher_; // declared last: stopped before the nodes are
};

/// The default demo directory.
fs::path default_demo_dir();

/// The hsmd binary: $HSMD, next to this program, or ../sbin. Throws if none.
fs::path find_hsmd();

} // namespace hsm
