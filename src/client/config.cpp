// SPDX-License-Identifier: Apache-2.0
// Reading and writing the client configuration file.
#include "hsmsh/client/config.hpp"

#include "hsmsh/files.hpp"

#include <cstdlib>

#include <fmt/format.h>

namespace hsm {
namespace {

using nlohmann::json;

// Field access that names the file and the field in every error.
class reader {
public:
    explicit reader(fs::path file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& field, std::string_view problem) const {
        throw config_error(fmt::format("{}: {}: {}", file_.string(), field, problem));
    }

    std::string text(const json& obj, const std::string& key, const std::string& where,
                     bool required = true) const {
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (required) fail(where + key, "missing");
            return {};
        }
        if (!it->is_string()) fail(where + key, "must be a string");
        return it->get<std::string>();
    }

    fs::path file_path(const json& obj, const std::string& key, const std::string& where) const {
        fs::path p = text(obj, key, where);
        return p.is_absolute() ? p : file_.parent_path() / p;
    }

    server_entry server(const json& s, const std::string& where) const {
        if (!s.is_object()) fail(where, "must be an object");
        server_entry e;
        e.hostname = text(s, "hostname", where + ".");
        e.name = text(s, "name", where + ".", false);
        if (e.name.empty()) e.name = e.hostname;
        auto port = s.find("port");
        if (port != s.end()) {
            if (!port->is_number_unsigned() || port->get<std::uint64_t>() == 0 ||
                port->get<std::uint64_t>() > 65535)
                fail(where + ".port", "must be a port number");
            e.port = static_cast<std::uint16_t>(port->get<std::uint64_t>());
        }
        return e;
    }

    std::vector<server_entry> servers(const json& obj, const std::string& where) const {
        auto it = obj.find("servers");
        if (it == obj.end()) fail(where + "servers", "missing");
        if (!it->is_array() || it->empty()) fail(where + "servers", "must be a non-empty array");
        std::vector<server_entry> out;
        for (std::size_t i = 0; i < it->size(); ++i)
            out.push_back(server((*it)[i], fmt::format("{}servers[{}]", where, i)));
        return out;
    }

    // "cluster_cert_sha256" (our extension, also in a CMU file): as
    // fingerprint() writes it, or absent.
    std::string pin(const json& c, const std::string& where) const {
        auto it = c.find("cluster_cert_sha256");
        if (it == c.end()) return "";
        bool ok = it->is_string() && it->get_ref<const std::string&>().size() == 7 + 32 * 3 - 1 &&
                  it->get_ref<const std::string&>().starts_with("SHA256:") &&
                  std::ranges::all_of(it->get_ref<const std::string&>().substr(7), [](char ch) {
                      return ch == ':' || (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
                  });
        if (!ok) fail(where + "cluster_cert_sha256", "not a SHA256:AB:CD:... fingerprint");
        return it->get<std::string>();
    }

    cluster_config cluster(const json& c, const std::string& where) const {
        if (!c.is_object()) fail(where, "must be an object");
        cluster_config out;
        out.cluster_id = text(c, "cluster_id", where + ".");
        out.cluster_cert = pin(c, where + ".");
        out.hsm_ca_cert = file_path(c, "hsm_ca_cert", where + ".");
        out.client_cert = file_path(c, "client_cert", where + ".");
        out.client_key = file_path(c, "client_key", where + ".");
        out.servers = servers(c, where + ".");
        return out;
    }

    // CMU's cloudhsm_mgmt_util.cfg: one cluster, certificates per server; a
    // server with "enable": "no" is skipped, as CMU skips it. The numbers
    // ("server N") are those of the servers kept.
    cluster_config cmu_cluster(const json& doc) const {
        cluster_config out;
        out.cluster_id = text(doc, "cluster_id", "", false);
        out.cluster_cert = pin(doc, "");
        auto listed = servers(doc, "");
        const json& all = doc["servers"];
        std::optional<std::size_t> first;
        for (std::size_t i = 0; i < all.size(); ++i) {
            auto enable = all[i].find("enable");
            if (enable != all[i].end() && enable->is_string() && *enable == "no") continue;
            out.servers.push_back(listed[i]);
            if (!first) first = i;
        }
        if (!first) fail("servers", "every server has \"enable\": \"no\"");
        const json& used = all[*first];
        auto where = fmt::format("servers[{}].", *first);
        out.client_cert = file_path(used, "certificate", where);
        out.client_key = file_path(used, "pkey", where);
        auto e2e = used.find("e2e_encryption");
        if (e2e == used.end() || !e2e->is_object())
            fail(where + "e2e_encryption.owner_cert_path", "missing");
        out.hsm_ca_cert = file_path(*e2e, "owner_cert_path", where + "e2e_encryption.");
        return out;
    }

private:
    fs::path file_;
};

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

} // namespace

const cluster_config& client_config::select(const std::string& id) const {
    std::string want = id.empty() ? default_cluster : id;
    if (want.empty() && clusters.size() == 1) return clusters.front();
    for (const auto& c : clusters)
        if (c.cluster_id == want) return c;
    if (want.empty())
        throw config_error(fmt::format("{}: default_cluster: missing, and the file names {} "
                                       "clusters: choose one with --cluster",
                                       path.string(), clusters.size()));
    throw config_error(fmt::format("{}: no cluster '{}'", path.string(), want));
}

fs::path default_config_path() {
    auto user = user_config_path();
    bool named = !env("HSMSH_CONFIG").empty() || !env("XDG_CONFIG_HOME").empty();
    if (!user.empty() && (named || fs::exists(user))) return user;
    return "/etc/hsmsh/hsmsh.json";
}

fs::path user_config_path() {
    if (auto p = env("HSMSH_CONFIG"); !p.empty()) return p;
    if (auto p = env("XDG_CONFIG_HOME"); !p.empty()) return fs::path(p) / "hsmsh" / "hsmsh.json";
    if (auto home = env("HOME"); !home.empty())
        return fs::path(home) / ".config" / "hsmsh" / "hsmsh.json";
    return {};
}

client_config load_config(const fs::path& path) {
    std::string text;
    try {
        text = read_file(path, max_config_size);
    } catch (const file_error& e) {
        throw config_error(e.what());
    }
    json doc = json::parse(text, nullptr, false);
    reader r(path);
    if (doc.is_discarded()) r.fail("(file)", "not valid JSON");
    if (!doc.is_object()) r.fail("(file)", "must be a JSON object");
    client_config out;
    out.path = path;
    if (!doc.contains("clusters") && doc.contains("servers")) {
        out.clusters.push_back(r.cmu_cluster(doc));
        return out;
    }
    out.default_cluster = r.text(doc, "default_cluster", "", false);
    auto it = doc.find("clusters");
    if (it == doc.end()) r.fail("clusters", "missing");
    if (!it->is_array()) r.fail("clusters", "must be an array");
    for (std::size_t i = 0; i < it->size(); ++i)
        out.clusters.push_back(r.cluster((*it)[i], fmt::format("clusters[{}]", i)));
    return out;
}

json config_to_json(const client_config& config) {
    json clusters = json::array();
    for (const auto& c : config.clusters) {
        json servers = json::array();
        for (const auto& s : c.servers)
            servers.push_back({{"name", s.name}, {"hostname", s.hostname}, {"port", s.port}});
        json entry{{"cluster_id", c.cluster_id},
                   {"hsm_ca_cert", c.hsm_ca_cert.string()},
                   {"client_cert", c.client_cert.string()},
                   {"client_key", c.client_key.string()},
                   {"servers", std::move(servers)}};
        if (!c.cluster_cert.empty()) entry["cluster_cert_sha256"] = c.cluster_cert;
        clusters.push_back(std::move(entry));
    }
    json out{{"clusters", std::move(clusters)}};
    if (!config.default_cluster.empty()) out["default_cluster"] = config.default_cluster;
    return out;
}

void save_config(const client_config& config) {
    try {
        write_file_atomic(config.path, config_to_json(config).dump(2) + "\n", 0600);
    } catch (const file_error& e) {
        throw config_error(e.what());
    }
}

} // namespace hsm
