// SPDX-License-Identifier: Apache-2.0
// Parsing HOST:PORT.
#include "hsmsh/endpoint.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

std::uint16_t parse_port(std::string_view text, std::string_view whole, bool allow_zero) {
    unsigned long value = 0;
    bool digits = !text.empty() && text.size() <= 5 &&
                  text.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits) value = std::stoul(std::string(text));
    if (!digits || value > 65535 || (value == 0 && !allow_zero))
        throw std::invalid_argument(
            fmt::format("'{}': the port must be {} to 65535", whole, allow_zero ? 0 : 1));
    return static_cast<std::uint16_t>(value);
}

} // namespace

std::string host_port::text() const {
    return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port)
                                               : fmt::format("[{}]:{}", host, port);
}

host_port parse_host_port(std::string_view text, std::optional<std::uint16_t> default_port,
                          bool allow_port_zero) {
    host_port out;
    std::string_view port;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            throw std::invalid_argument(fmt::format("'{}': no ']' after the address", text));
        out.host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            throw std::invalid_argument(fmt::format("'{}': ':' must follow ']'", text));
        has_port = !rest.empty();
        if (has_port) port = rest.substr(1);
    } else if (auto colon = text.find(':'); colon == std::string_view::npos) {
        out.host = text;
    } else if (text.find(':', colon + 1) != std::string_view::npos) {
        out.host = text; // a bare IPv6 address: no port can follow it unbracketed
    } else {
        out.host = text.substr(0, colon);
        port = text.substr(colon + 1);
        has_port = true;
    }
    if (out.host.empty()) throw std::invalid_argument(fmt::format("'{}': no host", text));
    if (has_port)
        out.port = parse_port(port, text, allow_port_zero);
    else if (default_port)
        out.port = *default_port;
    else
        throw std::invalid_argument(fmt::format("'{}': HOST:PORT wanted", text));
    return out;
}

} // namespace hsm
