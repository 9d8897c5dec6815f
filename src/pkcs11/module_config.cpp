// SPDX-License-Identifier: Apache-2.0
// The module's section of the configuration file, decoded.
#include "module_config.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <string>

#include <fmt/format.h>

namespace hsm::p11 {
namespace {

[[noreturn]] void wrong(std::string_view field, std::string_view why) {
    throw config_error(fmt::format("pkcs11.{}: {}", field, why));
}

log_level level_named(const json& v) {
    constexpr std::pair<std::string_view, log_level> names[]{{"off", log_level::off},
                                                             {"error", log_level::error},
                                                             {"warning", log_level::warning},
                                                             {"info", log_level::info},
                                                             {"debug", log_level::debug}};
    if (v.is_string())
        for (auto [name, level] : names)
            if (v.get_ref<const std::string&>() == name) return level;
    wrong("log_level", "must be off, error, warning, info or debug");
}

duration seconds(const json& section, const char* field, int most, duration otherwise) {
    auto it = section.find(field);
    if (it == section.end()) return otherwise;
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > most)
        wrong(field, fmt::format("must be a whole number of seconds, 1 to {}", most));
    return std::chrono::seconds(it->get<std::int64_t>());
}

} // namespace

module_settings read_settings(const fs::path& path) {
    module_settings out;
    std::string text;
    try {
        text = read_file(path, max_config_size);
    } catch (const file_error&) {
        return out; // no file: no slot, and the defaults
    }
    json doc = json::parse(text, nullptr, false);
    if (!doc.is_object() || !doc.contains("pkcs11")) return out;
    const auto& section = doc["pkcs11"];
    if (!section.is_object()) wrong("(section)", "must be an object");
    if (auto it = section.find("log_level"); it != section.end()) out.level = level_named(*it);
    if (auto it = section.find("log"); it != section.end()) {
        if (*it != "stderr" && *it != "syslog") wrong("log", "must be stderr or syslog");
        out.syslog = *it == "syslog";
    }
    out.connect_timeout = seconds(section, "connect_timeout_s", 300, out.connect_timeout);
    out.request_timeout = seconds(section, "request_timeout_s", 3600, out.request_timeout);
    return out;
}

} // namespace hsm::p11
