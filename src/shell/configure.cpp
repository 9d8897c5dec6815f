// SPDX-License-Identifier: Apache-2.0
// Client set-up: discovery, clusters in the config file, client certificates.
#include "configure.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/endpoint.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "shell_options.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

constexpr std::string_view default_endpoint = "127.0.0.1:2225";

server_entry parse_endpoint(const std::string& text) {
    try {
        auto hp = parse_host_port(text, server_entry{}.port);
        return {hp.text(), hp.host, hp.port};
    } catch (const std::invalid_argument& e) {
        throw config_error(e.what());
    }
}

struct discovery {
    std::string cluster_id;   // as the node's certificate and hello name it
    std::string cluster_cert; // its fingerprint, which the configuration pins
    std::vector<server_entry> members;
};

// Connects to one node of `cluster` (which names the certificates and the
// expected cluster id, or none: then the node's own, verified by the trust
// anchor, is taken) and returns the cluster's members, that node first.
discovery discover(cluster_config cluster, const server_entry& first, double timeout) {
    cluster.servers = {first};
    cluster_link link(cluster, from_seconds(timeout), from_seconds(timeout));
    auto connected = link.connect({0});
    if (!connected[0].ok)
        throw config_error(fmt::format("cannot reach {}: {}", first.name, connected[0].error));
    auto cluster_id = connected[0].hello.cluster_id;
    if (!valid_cluster_id(cluster_id))
        throw config_error(fmt::format("{} names no valid cluster id", first.name));
    auto reply = link.call({0}, operation::describe_cluster, json::object(), nullptr);
    link.close_all();
    if (!reply[0].ok())
        throw config_error(fmt::format("{} did not describe its cluster", first.name));
    std::vector<server_entry> members{first};
    for (const auto& peer : reply[0].fields.value("peers", json::array())) {
        if (!peer.is_string()) continue;
        auto entry = parse_endpoint(peer.get<std::string>());
        if (std::none_of(members.begin(), members.end(),
                         [&](const auto& m) { return m.name == entry.name; }))
            members.push_back(entry);
    }
    return {cluster_id, connected[0].hello.fingerprint, members};
}

client_config load_or_new(const fs::path& path) {
    if (fs::exists(path)) return load_config(path);
    client_config c;
    c.path = path;
    return c;
}

cluster_config* find_cluster(client_config& c, const std::string& id) {
    for (auto& cl : c.clusters)
        if (cl.cluster_id == id) return &cl;
    return nullptr;
}

bool same_endpoint(const server_entry& a, const server_entry& b) {
    return a.hostname == b.hostname && a.port == b.port;
}

bool has_name(const std::vector<server_entry>& list, const server_entry& s) {
    return std::ranges::any_of(list, [&](const auto& x) { return x.name == s.name; });
}

// `unnamed`: configured servers the node did not name, kept (no --prune).
void print_change(std::ostream& out, const fs::path& path, const std::vector<server_entry>& before,
                  const std::vector<server_entry>& after,
                  const std::vector<server_entry>& unnamed) {
    fmt::print(out, "Updating server config in {}\n", path.string());
    for (const auto& s : after) {
        if (has_name(unnamed, s))
            fmt::print(out, "  kept    {} (not named by the node: --prune removes it)\n", s.name);
        else
            fmt::print(out, "  {} {}\n", has_name(before, s) ? "kept   " : "added  ", s.name);
    }
    for (const auto& s : before)
        if (!has_name(after, s)) fmt::print(out, "  removed {}\n", s.name);
}

fs::path absolute_if_set(const fs::path& p) {
    return p.empty() ? p : fs::absolute(p);
}

// A new cluster entry: the given certificate files, or the usual names
// beside the configuration file, each of which must exist.
cluster_config new_entry(const configure_options& o, const fs::path& dir) {
    cluster_config cluster{
        o.cluster_id,
        o.hsm_ca_cert.empty() ? dir / "customerCA.crt" : absolute_if_set(o.hsm_ca_cert),
        o.client_cert.empty() ? dir / "client.crt" : absolute_if_set(o.client_cert),
        o.client_key.empty() ? dir / "client.key" : absolute_if_set(o.client_key),
        {}};
    for (const auto& [file, option] : {std::pair{cluster.hsm_ca_cert, "--hsm-ca-cert"},
                                       std::pair{cluster.client_cert, "--server-client-cert-file"},
                                       std::pair{cluster.client_key, "--server-client-key-file"}})
        if (!fs::exists(file))
            throw config_error(fmt::format("{} does not exist: give {}", file.string(), option));
    return cluster;
}

// The one catch boundary of every subcommand here: a refusal is one line on
// `err` and exit status 3.
template <typename F> int boundary(std::ostream& err, std::string_view command, F body) {
    try {
        return body();
    } catch (const std::exception& e) {
        fmt::print(err, "hsmsh {}: {}\n", command, e.what());
        return exit_connection;
    }
}

} // namespace

namespace {

// configure --cmu for a cluster not yet configured (a fresh machine): the
// node says which cluster it serves, and who its members are.
int add_discovered_cluster(const configure_options& o, client_config& config, std::ostream& out) {
    auto dir = fs::absolute(config.path).parent_path();
    auto cluster = new_entry(o, dir);
    auto found = discover(cluster, parse_endpoint(o.cmu), o.timeout);
    cluster.cluster_id = found.cluster_id;
    cluster.cluster_cert = found.cluster_cert;
    cluster.servers = found.members;
    if (find_cluster(config, cluster.cluster_id))
        throw config_error(fmt::format("{} serves cluster '{}', which is configured "
                                       "already: give --cluster-id {}",
                                       o.cmu, cluster.cluster_id, cluster.cluster_id));
    config.clusters.push_back(cluster);
    if (config.default_cluster.empty()) config.default_cluster = cluster.cluster_id;
    print_change(out, config.path, {}, cluster.servers, {});
    fmt::print(out, "Configured cluster '{}' ({} server(s)).\n", cluster.cluster_id,
               cluster.servers.size());
    fs::create_directories(dir);
    save_config(config);
    return exit_ok;
}

// configure --cmu for a configured cluster: its members as the node names them.
int refresh_members(const configure_options& o, client_config& config, std::ostream& out) {
    auto& cluster = config.select(o.cluster_id);
    if (!o.hsm_ca_cert.empty()) cluster.hsm_ca_cert = absolute_if_set(o.hsm_ca_cert);
    auto before = cluster.servers;
    cluster.servers = discover(cluster, parse_endpoint(o.cmu), o.timeout).members;
    // A node names the members it knows; one that knows fewer than the
    // configuration lists must not shrink the cluster to itself.
    std::vector<server_entry> unnamed;
    for (const auto& s : before)
        if (std::ranges::none_of(cluster.servers,
                                 [&](const auto& m) { return same_endpoint(m, s); }))
            unnamed.push_back(s);
    if (!o.prune) cluster.servers.insert(cluster.servers.end(), unnamed.begin(), unnamed.end());
    print_change(out, config.path, before, cluster.servers,
                 o.prune ? decltype(unnamed){} : unnamed);
    if (!o.prune && !unnamed.empty())
        fmt::print(out,
                   "{} names {} member(s); {} configured server(s) it does not name were "
                   "kept. A node names the peers it knows (hsmd serve --peer; nodes announce "
                   "themselves to each other).\n",
                   o.cmu, cluster.servers.size() - unnamed.size(), unnamed.size());
    save_config(config);
    return exit_ok;
}

} // namespace

int configure_cmu(const configure_options& o, std::ostream& out, std::ostream& err) {
    return boundary(err, "configure", [&] {
        auto config = load_or_new(o.config);
        bool known = o.cluster_id.empty() ? !config.clusters.empty()
                                          : find_cluster(config, o.cluster_id) != nullptr;
        return known ? refresh_members(o, config, out) : add_discovered_cluster(o, config, out);
    });
}

int add_cluster(const configure_options& o, std::ostream& out, std::ostream& err) {
    return boundary(err, "configure", [&] {
        auto config = load_or_new(o.config);
        if (find_cluster(config, o.cluster_id))
            throw config_error(fmt::format("cluster '{}' is already configured in {}: "
                                           "remove-cluster first",
                                           o.cluster_id, config.path.string()));
        auto dir = fs::absolute(config.path).parent_path();
        auto cluster = new_entry(o, dir);
        auto endpoint =
            parse_endpoint(o.endpoint.empty() ? std::string(default_endpoint) : o.endpoint);
        try {
            cluster.servers = discover(cluster, endpoint, o.timeout).members;
        } catch (const config_error& e) {
            if (!o.endpoint.empty()) throw;
            throw config_error(fmt::format("{} (the default endpoint); give the address of one "
                                           "of the cluster's nodes with --endpoint HOST[:PORT]",
                                           e.what()));
        }
        config.clusters.push_back(cluster);
        if (config.default_cluster.empty()) config.default_cluster = o.cluster_id;
        print_change(out, config.path, {}, cluster.servers, {});
        fs::create_directories(dir);
        save_config(config);
        return exit_ok;
    });
}

int remove_cluster(const configure_options& o, std::ostream& out, std::ostream& err) {
    return boundary(err, "configure", [&] {
        auto config = load_config(o.config);
        auto it = std::find_if(config.clusters.begin(), config.clusters.end(),
                               [&](const auto& c) { return c.cluster_id == o.cluster_id; });
        if (it == config.clusters.end())
            throw config_error(
                fmt::format("{}: no cluster '{}'", config.path.string(), o.cluster_id));
        config.clusters.erase(it);
        if (config.default_cluster == o.cluster_id)
            config.default_cluster = config.clusters.empty() ? "" : config.clusters[0].cluster_id;
        fmt::print(out, "Removed cluster '{}' from {}\n", o.cluster_id, config.path.string());
        save_config(config);
        return exit_ok;
    });
}

namespace {

bool valid_certificate_identifier(const std::string& identifier) {
    return !identifier.empty() && identifier.size() <= 64 &&
           std::all_of(identifier.begin(), identifier.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
           });
}

// The tags as CloudHSM lists them; nullopt, with `bad` set, for one not
// written Key=K,Value=V.
std::optional<json> tag_list_of(const std::vector<std::string>& tags, std::string& bad) {
    json tag_list = json::array();
    for (const auto& t : tags) {
        auto comma = t.find(",Value=");
        if (!t.starts_with("Key=") || comma == std::string::npos) {
            bad = t;
            return std::nullopt;
        }
        tag_list.push_back({{"Key", t.substr(4, comma - 4)}, {"Value", t.substr(comma + 7)}});
    }
    return tag_list;
}

// Makes the key and certificate in `dir`, with CloudHSM's JSON document
// beside them and on `out`.
void write_client_certificate(const fs::path& dir, const std::string& identifier,
                              const json& tag_list, std::ostream& out, std::ostream& err) {
    fs::create_directories(dir);
    auto key = generate_key();
    auto cert = make_self_signed_certificate(key.get(), identifier, cert_usage::client, 365);
    auto pem = cert_to_pem(cert.get());
    write_file_atomic(dir / (identifier + ".key"), key_to_pem(key.get()), 0600);
    write_file_atomic(dir / (identifier + ".crt"), pem, 0644);
    json doc{{"HsmClientCertificate",
              {{"HsmClientCertificateIdentifier", identifier},
               {"HsmClientCertificatePublicKey", pem},
               {"Tags", tag_list}}}};
    write_file_atomic(dir / (identifier + ".json"), doc.dump(4) + "\n", 0644);
    out << doc.dump(4) << '\n';
    // Standard output stays the JSON document; where things are goes to standard error.
    fmt::print(err,
               "Wrote the certificate to {0}.crt and its private key to {0}.key "
               "(mode 0600).\nRegister it on every node: hsmd register-client-certificate "
               "--data DIR --cert {0}.crt, then send each running node SIGHUP "
               "(systemctl reload hsmd@NODE)\n",
               (dir / identifier).string());
}

} // namespace

int create_client_certificate(const fs::path& config, const std::string& identifier,
                              const std::vector<std::string>& tags, std::ostream& out,
                              std::ostream& err) {
    // What the caller asked for cannot be done as asked: a usage error (2).
    auto refuse = [&](const std::string& message) {
        fmt::print(err, "hsmsh create-hsm-client-certificate: {}\n", message);
        return exit_usage;
    };
    return boundary(err, "create-hsm-client-certificate", [&] {
        if (!valid_certificate_identifier(identifier))
            return refuse("identifiers are 1 to 64 letters, digits, '-' or '_'");
        std::string bad;
        auto tag_list = tag_list_of(tags, bad);
        if (!tag_list)
            return refuse(fmt::format("tag '{}': write Key=K,Value=V", escape_terminal(bad)));
        auto dir = fs::absolute(config).parent_path() / "client-certificates";
        auto cert_path = dir / (identifier + ".crt");
        if (fs::exists(cert_path))
            return refuse(fmt::format("a client certificate '{}' exists already ({})", identifier,
                                      cert_path.string()));
        write_client_certificate(dir, identifier, *tag_list, out, err);
        return exit_ok;
    });
}

} // namespace hsm
