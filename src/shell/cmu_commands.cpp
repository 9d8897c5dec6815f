// SPDX-License-Identifier: Apache-2.0
// CMU's commands that exist for compatibility: enable_e2e, getCert, and the
// quorum commands this shell does not have yet.
#include "shell.hpp"

#include "hsmsh/cluster_link.hpp"
#include "hsmsh/files.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

// A certificate is public, but a file name could be anything: bounded.
constexpr std::size_t max_anchor_file = 64 * 1024;

} // namespace

line_result shell::run_enable_e2e(parsed_command&) {
    // Every connection is mutual TLS 1.3 with the node itself: CMU's end-to-end
    // session is what hsmsh always has. Say it as CMU does, once per server.
    for (auto i : targets())
        if (link_->connected(i))
            fmt::print(out_, "E2E enabled on {}\n", server_label(i, link_->server(i).name));
    fmt::print(info(), "(every connection is end-to-end already: mutual TLS 1.3 with each node)\n");
    return line_result::ok;
}

line_result shell::run_get_cert(parsed_command& cmd) {
    auto where = targets();
    if (cmd.args.empty()) {
        bool all = true;
        for (auto i : where) {
            auto label = server_label(i, link_->server(i).name);
            if (!link_->connected(i) || certificates_[i].empty()) {
                fmt::print(out_, "getCert failed on {}: NOT_CONNECTED\n", label);
                all = false;
                continue;
            }
            fmt::print(out_, "Certificate of {}:\n{}", label, certificates_[i]);
        }
        return all ? line_result::ok : line_result::failed;
    }
    // CMU's form: getCert <file-name> <certificate-type>, in server mode.
    if (cmd.args.size() != 2) throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    if (!server_mode_)
        throw usage_error("getCert <file-name> <certificate-type> works in server mode only "
                          "(server N); getCert alone prints every server's certificate");
    const auto& type = cmd.args[1];
    std::string pem;
    if (type == "8") {
        pem = certificates_[*server_mode_];
        if (!link_->connected(*server_mode_) || pem.empty()) {
            fmt::print(out_, "getCert failed: NOT_CONNECTED\n");
            return line_result::failed;
        }
    } else if (type == "4") {
        for (const auto& c : config_.clusters)
            if (c.cluster_id == link_->cluster_id())
                pem = read_file(c.hsm_ca_cert, max_anchor_file);
    } else {
        throw usage_error(fmt::format("certificate type '{}': this shell has 8 (the node's "
                                      "cluster certificate) and 4 (the trust anchor that issued "
                                      "it); a software node has no manufacturer certificates",
                                      type));
    }
    try {
        write_file_atomic(cmd.args[0], pem, 0644);
    } catch (const std::exception& e) {
        fmt::print(err_, "getCert failed: {}\n", e.what());
        return line_result::failed;
    }
    fmt::print(out_, "getCert Success\n");
    return line_result::ok;
}

} // namespace hsm
