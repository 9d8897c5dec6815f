// SPDX-License-Identifier: Apache-2.0
// The commands that look at the cluster and its connections: listUsers,
// getHSMInfo, info server, listClusters, useCluster, and CMU's enable_e2e
// and getCert.
#include "cluster_commands.hpp"

#include "divergence.hpp"
#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"
#include "render.hpp"
#include "shell_context.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

// A certificate is public, but a file name could be anything: bounded.
constexpr std::size_t max_anchor_file = 64 * 1024;

bool knows_cluster(shell_context& ctx, const std::string& id) {
    auto known = [&] {
        return std::ranges::any_of(ctx.config.clusters,
                                   [&](const auto& c) { return c.cluster_id == id; });
    };
    if (known()) return true;
    // Another terminal may have added it since the shell read the file
    // (configure add-cluster, configure-pkcs11): read it again. The open
    // cluster's link keeps what it was opened with.
    try {
        ctx.config = load_config(ctx.config.path);
    } catch (const config_error& e) {
        fmt::print(ctx.output.err(), "hsmsh: reading the configuration again: {}\n", e.what());
        return false;
    }
    return known();
}

} // namespace

namespace {

// listUsers' and getHSMInfo's text: each server's block, then where the
// servers' users differ; with --summary or --check the comparison alone.
void print_query(std::ostream& out, const parsed_command& cmd,
                 const std::vector<server_report>& reports,
                 const std::vector<user_comparison>& comparison, std::size_t answered) {
    if (!cmd.args.empty()) {
        fmt::print(out, "Users across {} servers ({} of {} answered):\n", reports.size(), answered,
                   reports.size());
        print_comparison(out, comparison, reports, false);
        return;
    }
    for (const auto& r : reports)
        cmd.spec->op == operation::list_users ? print_user_table(out, cmd.spec->name, r)
                                              : print_hsm_info(out, cmd.spec->name, r);
    if (!all_agree(comparison)) {
        fmt::print(out, "\n{}\n", comparison_heading(comparison));
        print_comparison(out, comparison, reports, true);
    }
}

} // namespace

line_result run_query(shell_context& ctx, parsed_command& cmd) {
    auto op = *cmd.spec->op;
    bool summary_only = !cmd.args.empty();
    bool check = summary_only && cmd.args.front() == "--check";
    if (summary_only && !check && cmd.args.front() != "--summary")
        throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    auto where = ctx.cluster.targets();
    if (op == operation::hsm_info && !ctx.options.json)
        fmt::print(ctx.output.out(), "Getting HSM Info on {} nodes\n", ctx.cluster.live(where));
    auto reports = ctx.cluster.fan_out(where, op, json::object());
    std::vector<user_comparison> comparison;
    if (op == operation::list_users) {
        comparison = compare_users(reports);
        for (const auto& r : reports)
            if (r.outcome.ok()) ctx.session.listed[r.index] = r.outcome.users;
    }
    auto answered = static_cast<std::size_t>(
        std::ranges::count_if(reports, [](const auto& r) { return r.outcome.ok(); }));
    if (!ctx.options.json)
        print_query(ctx.output.out(), cmd, reports, comparison, answered);
    else if (op == operation::list_users)
        ctx.output.emit(result_json(cmd.spec->name, reports, op, comparison_json(comparison),
                                    json{{"answered", answered}, {"servers", reports.size()}}));
    else
        ctx.output.emit(result_json(cmd.spec->name, reports, op));
    // --check: for monitoring, every user must be known to agree everywhere.
    if (check && !all_agree(comparison)) return line_result::failed;
    return answered == reports.size() ? line_result::ok : line_result::failed;
}

line_result run_info(shell_context& ctx, parsed_command& cmd) {
    if (cmd.args.at(0) != "server") throw usage_error("usage: info server <server-number>");
    auto index = parse_server_number(cmd.args.at(1), ctx.cluster.link().size());
    if (!index)
        throw usage_error(fmt::format("no server {}: servers are 0 to {}", cmd.args.at(1),
                                      ctx.cluster.link().size() - 1));
    const auto& s = ctx.cluster.link().server(*index);
    bool up = ctx.cluster.link().connected(*index);
    const auto& l = ctx.session.logins[*index];
    std::string login = l ? fmt::format("Logged in as '{}({})'", l->name, user_type_name(l->type))
                          : std::string("Not logged in");
    if (ctx.options.json) {
        json doc{{"command", cmd.spec->name},
                 {"ok", true},
                 {"server",
                  {{"index", *index},
                   {"name", s.name},
                   {"hostname", s.hostname},
                   {"port", s.port},
                   {"connected", up},
                   {"login", login}}}};
        ctx.output.emit(std::move(doc));
        return line_result::ok;
    }
    fmt::print(ctx.output.out(), "Id\tName\t\t\tHostname\t\tPort\tState\t\tLoginState\n");
    fmt::print(ctx.output.out(), "{}\t{}\t\t{}\t\t{}\t{}\t{}\n", *index, s.name, s.hostname, s.port,
               up ? "Connected" : "Disconnected", login);
    return line_result::ok;
}

line_result run_list_clusters(shell_context& ctx, parsed_command& cmd) {
    for (const auto& c : ctx.config.clusters) {
        bool current = c.cluster_id == ctx.cluster.link().cluster_id();
        if (ctx.options.json) {
            ctx.output.emit(json{{"command", cmd.spec->name},
                                 {"cluster_id", c.cluster_id},
                                 {"current", current},
                                 {"servers", c.servers.size()}});
            continue;
        }
        fmt::print(ctx.output.out(), "{} {:<24} {} servers{}\n", current ? '*' : ' ', c.cluster_id,
                   c.servers.size(),
                   c.cluster_id == ctx.config.default_cluster ? " (default)" : "");
    }
    return line_result::ok;
}

line_result run_use_cluster(shell_context& ctx, parsed_command& cmd) {
    const auto& id = cmd.args.at(0);
    if (!knows_cluster(ctx, id))
        throw usage_error(fmt::format("no cluster '{}' in {} (read again just now): "
                                      "listClusters shows them",
                                      id, ctx.config.path.string()));
    try {
        ctx.cluster.open(id);
    } catch (const config_error& e) {
        fmt::print(ctx.output.err(), "hsmsh: {}\n", e.what());
        return line_result::failed;
    }
    return ctx.cluster.connect_all() == 0 ? line_result::failed : line_result::ok;
}

line_result run_enable_e2e(shell_context& ctx, parsed_command&) {
    // Every connection is mutual TLS 1.3 with the node itself: CMU's end-to-end
    // session is what hsmsh always has. Say it as CMU does, once per server.
    for (auto i : ctx.cluster.targets())
        if (ctx.cluster.link().connected(i))
            fmt::print(ctx.output.out(), "E2E enabled on {}\n",
                       server_label(i, ctx.cluster.link().server(i).name));
    fmt::print(ctx.output.info(),
               "(every connection is end-to-end already: mutual TLS 1.3 with each node)\n");
    return line_result::ok;
}

namespace {

// getCert alone: every server's certificate as last verified.
line_result print_certificates(shell_context& ctx, const std::vector<std::size_t>& where) {
    bool all = true;
    for (auto i : where) {
        auto label = ctx.cluster.label(i);
        if (!ctx.cluster.link().connected(i) || ctx.session.certificates[i].empty()) {
            fmt::print(ctx.output.out(), "getCert failed on {}: NOT_CONNECTED\n", label);
            all = false;
            continue;
        }
        fmt::print(ctx.output.out(), "Certificate of {}:\n{}", label, ctx.session.certificates[i]);
    }
    return all ? line_result::ok : line_result::failed;
}

// CMU's certificate types this shell has: 8, the server's own (nullopt when
// it is not connected), and 4, the trust anchor that issued it.
std::optional<std::string> certificate_of_type(shell_context& ctx, const std::string& type) {
    auto server = *ctx.session.server_mode;
    if (type == "8") {
        const auto& pem = ctx.session.certificates[server];
        if (!ctx.cluster.link().connected(server) || pem.empty()) return std::nullopt;
        return pem;
    }
    if (type != "4")
        throw usage_error(fmt::format("certificate type '{}': this shell has 8 (the node's "
                                      "cluster certificate) and 4 (the trust anchor that issued "
                                      "it); a software node has no manufacturer certificates",
                                      type));
    std::string pem;
    for (const auto& c : ctx.config.clusters)
        if (c.cluster_id == ctx.cluster.link().cluster_id())
            pem = read_file(c.hsm_ca_cert, max_anchor_file);
    return pem;
}

} // namespace

line_result run_get_cert(shell_context& ctx, parsed_command& cmd) {
    auto where = ctx.cluster.targets();
    if (cmd.args.empty()) return print_certificates(ctx, where);
    // CMU's form: getCert <file-name> <certificate-type>, in server mode.
    if (cmd.args.size() != 2) throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    if (!ctx.session.server_mode)
        throw usage_error("getCert <file-name> <certificate-type> works in server mode only "
                          "(server N); getCert alone prints every server's certificate");
    auto pem = certificate_of_type(ctx, cmd.args[1]);
    if (!pem) {
        fmt::print(ctx.output.out(), "getCert failed: NOT_CONNECTED\n");
        return line_result::failed;
    }
    try {
        write_file_atomic(cmd.args[0], *pem, 0644);
    } catch (const std::exception& e) {
        fmt::print(ctx.output.err(), "getCert failed: {}\n", e.what());
        return line_result::failed;
    }
    fmt::print(ctx.output.out(), "getCert Success\n");
    return line_result::ok;
}

} // namespace hsm
