// SPDX-License-Identifier: Apache-2.0
// HOST:PORT as operators write it: the one parser, IPv6 literals included.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hsm {

struct host_port {
    std::string host; // a name or an address; IPv6 without brackets
    std::uint16_t port = 0;

    /// "host:port", with an IPv6 address in brackets: "[::1]:2225".
    std::string text() const;
};

/// Parses "host:port", "[v6-address]:port", a bare "::1", or a host alone
/// (then `default_port`, and without one the port is required). Ports are
/// 1-65535, or 0 too with `allow_port_zero` (a listener's "any free port").
/// Throws std::invalid_argument saying what is wrong.
host_port parse_host_port(std::string_view text, std::optional<std::uint16_t> default_port,
                          bool allow_port_zero = false);

} // namespace hsm
