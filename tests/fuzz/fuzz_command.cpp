// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the shell's command-line splitter and parser.
//
// Properties: a line either parses or is refused with a usage_error (nothing
// else escapes), and what history would keep of a parsed command (the
// password replaced by -hpswd), when it fits in a line, parses back to the same command, asking for
// its password instead of carrying it.
#include "command_line.hpp"

#include <cstdint>
#include <cstdlib>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    std::optional<hsm::parsed_command> cmd;
    try {
        cmd = hsm::parse_command(hsm::split_words(line));
    } catch (const hsm::usage_error&) {
        return 0;
    }
    if (!cmd) return 0;
    check(cmd->spec != nullptr);
    auto kept = cmd->history_text();
    if (kept.size() > hsm::max_line_length) return 0; // quoting grew it: not kept
    std::optional<hsm::parsed_command> back;
    try {
        back = hsm::parse_command(hsm::split_words(kept));
    } catch (const hsm::usage_error&) {
        std::abort(); // history holds a line that no longer parses
    }
    check(back && back->spec == cmd->spec);
    check(back->args == cmd->args);
    check(!back->inline_password);
    check(back->prompt_password == (cmd->spec->password_arg >= 0));
    return 0;
}
