// SPDX-License-Identifier: Apache-2.0
// `hsmsh configure` and `hsmsh create-hsm-client-certificate`: client set-up.
#pragma once

#include "hsmsh/client/config.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace hsm {

struct configure_options {
    fs::path config;        // the file to change
    std::string cmu;        // --cmu HOST[:PORT]
    std::string cluster_id; // --cluster-id
    std::string endpoint;   // --endpoint HOST[:PORT]
    std::string region;     // --region: accepted (CloudHSM's scripts), unused
    fs::path hsm_ca_cert;   // --hsm-ca-cert
    fs::path client_cert;   // --server-client-cert-file
    fs::path client_key;    // --server-client-key-file
    double timeout = 5;     // seconds for the discovery connection
    bool prune = false;     // --prune: drop configured servers the node does not name
};

/// `configure --cmu`: asks the node for its cluster's members and writes them
/// into the cluster's entry. Returns an exit status; prints what changed.
int configure_cmu(const configure_options& o, std::ostream& out, std::ostream& err);

/// `configure add-cluster`: the node at the endpoint must prove it is the
/// cluster; its members become the entry's servers.
int add_cluster(const configure_options& o, std::ostream& out, std::ostream& err);

/// `configure remove-cluster`.
int remove_cluster(const configure_options& o, std::ostream& out, std::ostream& err);

/// `create-hsm-client-certificate`: a key pair (0600) and self-signed
/// certificate under the config directory; prints the JSON of the source
/// document. Tags are "Key=K,Value=V".
int create_client_certificate(const fs::path& config, const std::string& identifier,
                              const std::vector<std::string>& tags, std::ostream& out,
                              std::ostream& err);

} // namespace hsm
