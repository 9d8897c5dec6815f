// SPDX-License-Identifier: Apache-2.0
// A node's data directory and the cluster life cycle.
#include "store/node_data.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/pki.hpp"
#include "store/node_store.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <openssl/rand.h>

namespace hsm {
namespace {

constexpr std::size_t max_key_file = 16 * 1024;

std::string new_hsm_id() {
    constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char bytes[11];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw lifecycle_error("random generator failed");
    std::string id = "hsm-";
    for (unsigned char b : bytes)
        id += alphabet[b % alphabet.size()];
    return id;
}

// Reads a PEM file the InitializeCluster way: at most 5000 characters.
std::string read_pem(const fs::path& path, std::string_view what) {
    try {
        return read_file(path, max_pem_characters);
    } catch (const file_error& e) {
        throw lifecycle_error(fmt::format("{} is unreadable or longer than {} characters ({})",
                                          what, max_pem_characters, e.what()));
    }
}

x509_ptr parse_pem(const std::string& pem, std::string_view what) {
    try {
        return cert_from_pem(pem);
    } catch (const pki_error&) {
        throw lifecycle_error(fmt::format("{} is not a PEM certificate", what));
    }
}

void require_state(node_store& store, cluster_state expected) {
    auto state = store.meta().state();
    if (state != expected)
        throw lifecycle_error(fmt::format("the node is {}, not {}", cluster_state_name(state),
                                          cluster_state_name(expected)));
}

void validate_claim(const node_paths& paths, X509* cert, X509* anchor,
                    const std::string& cluster_id) {
    if (!is_self_signed(anchor)) throw lifecycle_error("the trust anchor is not self-signed");
    if (!issued_by(cert, anchor))
        throw lifecycle_error("the signed certificate was not issued by the trust anchor");
    auto csr = csr_from_pem(read_file(paths.csr(), max_key_file));
    if (!same_public_key(cert, csr.get()))
        throw lifecycle_error("the signed certificate does not carry the key of the cluster CSR");
    if (!names_server_use(cert) || !names_client_use(cert))
        throw lifecycle_error("the signed certificate does not name serverAuth and clientAuth in "
                              "its extended key usage (sign with -extfile: "
                              "extendedKeyUsage=serverAuth,clientAuth)");
    if (common_name(cert) != cluster_id)
        throw lifecycle_error(fmt::format("the signed certificate names '{}', not cluster '{}'",
                                          common_name(cert), cluster_id));
}

} // namespace

std::string existing_database(const node_paths& paths) {
    if (!fs::exists(paths.database())) throw lifecycle_error("no node in " + paths.dir.string());
    return paths.database().string();
}

cluster_keys load_cluster_keys(const node_paths& paths) {
    existing_database(paths);
    if (!fs::exists(paths.masking_key())) cluster_keys::generate().write(paths.masking_key());
    return cluster_keys::read(paths.masking_key());
}

node_store open_store(const node_paths& paths) {
    auto keys = load_cluster_keys(paths);
    return node_store(existing_database(paths), keys.audit());
}

cluster_state node_state(const node_paths& paths) {
    auto store = open_store(paths);
    return store.meta().state();
}

void create_cluster(const node_paths& paths, const std::string& cluster_id) {
    if (!valid_cluster_id(cluster_id))
        throw lifecycle_error("cluster ids are 1-64 of letters, digits, '.', '_' and '-'");
    if (fs::exists(paths.database()))
        throw lifecycle_error(fmt::format("{} already holds a node", paths.dir.string()));
    fs::create_directories(paths.dir);
    fs::permissions(paths.dir, fs::perms::owner_all, fs::perm_options::replace);
    auto key = generate_key();
    auto csr = make_csr(key.get(), cluster_id);
    write_file_atomic(paths.key(), key_to_pem(key.get()), 0600);
    write_file_atomic(paths.csr(), csr_to_pem(csr.get()), 0644);
    auto keys = cluster_keys::generate();
    keys.write(paths.masking_key());
    node_store store(paths.database().string(), keys.audit());
    store.transact([&] {
        store.meta().set(meta_key::cluster_id, cluster_id);
        store.meta().set(meta_key::hsm_id, new_hsm_id());
        store.meta().set_state(cluster_state::uninitialized);
    });
    ensure_node_request(paths);
}

void ensure_node_request(const node_paths& paths) {
    if (fs::exists(paths.node_key()) && fs::exists(paths.node_csr())) return;
    auto store = open_store(paths);
    auto key = generate_key();
    auto csr = make_csr(key.get(), store.meta().get(meta_key::cluster_id).value_or(""),
                        store.meta().get(meta_key::hsm_id).value_or(""));
    write_file_atomic(paths.node_key(), key_to_pem(key.get()), 0600);
    write_file_atomic(paths.node_csr(), csr_to_pem(csr.get()), 0644);
}

void install_node_certificate(const node_paths& paths, const fs::path& signed_cert) {
    auto store = open_store(paths);
    if (store.meta().state() == cluster_state::uninitialized)
        throw lifecycle_error("the node is UNINITIALIZED: initialize the cluster first");
    ensure_node_request(paths);
    auto pem = read_pem(signed_cert, "the node certificate");
    auto cert = parse_pem(pem, "the node certificate");
    auto anchor = parse_pem(read_file(paths.trust_anchor(), max_key_file), "the trust anchor");
    auto csr = csr_from_pem(read_file(paths.node_csr(), max_key_file));
    auto cluster_id = store.meta().get(meta_key::cluster_id).value_or("");
    auto hsm_id = store.meta().get(meta_key::hsm_id).value_or("");
    if (!issued_by(cert.get(), anchor.get()))
        throw lifecycle_error("the node certificate was not issued by the trust anchor");
    if (!same_public_key(cert.get(), csr.get()))
        throw lifecycle_error("the node certificate does not carry the key of node.csr");
    if (common_name(cert.get()) != cluster_id || subject_serial_number(cert.get()) != hsm_id)
        throw lifecycle_error(fmt::format("the node certificate names CN '{}', serialNumber "
                                          "'{}', not cluster '{}' and HSM '{}'",
                                          common_name(cert.get()),
                                          subject_serial_number(cert.get()), cluster_id, hsm_id));
    if (!names_server_use(cert.get()) || !names_client_use(cert.get()))
        throw lifecycle_error("the node certificate does not name serverAuth and clientAuth in "
                              "its extended key usage");
    write_file_atomic(paths.node_certificate(), pem, 0644);
    store.transact([&] {
        store.audit().append(
            hsm_id, {"-", "-", "-", "install_node_certificate", fingerprint(cert.get()), "RET_OK"});
    });
}

void initialize_cluster(const node_paths& paths, const std::string& cluster_id,
                        const fs::path& signed_cert, const fs::path& trust_anchor,
                        std::uint32_t kdf_iterations) {
    if (!fs::exists(paths.database()))
        throw lifecycle_error(
            fmt::format("no node in {}: run create-cluster first", paths.dir.string()));
    auto store = open_store(paths);
    require_state(store, cluster_state::uninitialized);
    if (store.meta().get(meta_key::cluster_id) != cluster_id)
        throw lifecycle_error(fmt::format("this node belongs to cluster '{}', not '{}'",
                                          store.meta().get(meta_key::cluster_id).value_or(""),
                                          cluster_id));
    auto cert_pem = read_pem(signed_cert, "the signed certificate");
    auto anchor_pem = read_pem(trust_anchor, "the trust anchor");
    auto cert = parse_pem(cert_pem, "the signed certificate");
    auto anchor = parse_pem(anchor_pem, "the trust anchor");
    validate_claim(paths, cert.get(), anchor.get(), cluster_id);

    auto admin = hash_password("password", kdf_iterations);
    write_file_atomic(paths.certificate(), cert_pem, 0644);
    write_file_atomic(paths.trust_anchor(), anchor_pem, 0644);
    store.transact([&] {
        store.users().insert("admin", user_type::preco, admin);
        store.meta().set_state(cluster_state::initialized);
        store.audit().append(store.meta().get(meta_key::hsm_id).value_or(""),
                             {"-", "-", "-", "initialize_cluster", cluster_id, "RET_OK"});
    });
}

json describe_node(const node_paths& paths) {
    auto store = open_store(paths);
    json out{
        {"ClusterId", store.meta().get(meta_key::cluster_id).value_or("")},
        {"HsmId", store.meta().get(meta_key::hsm_id).value_or("")},
        {"State", cluster_state_name(store.meta().state())},
        {"Csr", read_file(paths.csr(), max_key_file)},
        {"Peers", json::parse(store.meta().get(meta_key::peers).value_or("[]"), nullptr, false)}};
    if (fs::exists(paths.certificate())) {
        auto cert = cert_from_pem(read_file(paths.certificate(), max_key_file));
        out["CertificateFingerprint"] = fingerprint(cert.get());
        auto anchor = cert_from_pem(read_file(paths.trust_anchor(), max_key_file));
        out["TrustAnchorFingerprint"] = fingerprint(anchor.get());
    }
    if (fs::exists(paths.node_csr())) out["NodeCsr"] = read_file(paths.node_csr(), max_key_file);
    if (fs::exists(paths.node_certificate())) {
        auto cert = cert_from_pem(read_file(paths.node_certificate(), max_key_file));
        out["NodeCertificateFingerprint"] = fingerprint(cert.get());
    }
    json clients = json::array();
    for (const auto& row : store.meta().client_credentials())
        clients.push_back({{"Fingerprint", row[0]}, {"Kind", row[1]}, {"Subject", row[2]}});
    out["ClientCredentials"] = std::move(clients);
    return out;
}

void clone_node(const node_paths& from, const node_paths& to) {
    if (!fs::exists(from.database())) throw lifecycle_error("no node in " + from.dir.string());
    if (fs::exists(to.database()))
        throw lifecycle_error(fmt::format("{} already holds a node", to.dir.string()));
    auto source = open_store(from);
    if (source.meta().state() == cluster_state::uninitialized)
        throw lifecycle_error("only an initialized node can be cloned");
    fs::create_directories(to.dir);
    fs::permissions(to.dir, fs::perms::owner_all, fs::perm_options::replace);
    for (auto file : {&node_paths::key, &node_paths::masking_key, &node_paths::csr,
                      &node_paths::certificate, &node_paths::trust_anchor}) {
        bool secret = file == &node_paths::key || file == &node_paths::masking_key;
        unsigned mode = secret ? 0600 : 0644;
        write_file_atomic((to.*file)(), read_file((from.*file)(), max_key_file), mode);
    }
    source.backup_to(to.database().string());
    auto copy = open_store(to);
    copy.transact([&] {
        copy.meta().set(meta_key::hsm_id, new_hsm_id());
        copy.audit().append(
            copy.meta().get(meta_key::hsm_id).value_or(""),
            {"-", "-", "-", "clone", source.meta().get(meta_key::hsm_id).value_or(""), "RET_OK"});
    });
    ensure_node_request(to);
}

} // namespace hsm
