// SPDX-License-Identifier: Apache-2.0
// Where the shell's words go: results, --json documents, usage errors.
#include "shell_output.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"
#include "render.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {

shell_output::shell_output(std::ostream& out, std::ostream& err, line_input& input,
                           const shell_options& options)
    : out_(out), err_(err), input_(input), options_(options) {}

std::ostream& shell_output::info() noexcept {
    return options_.json ? err_ : out_;
}

std::ostream& shell_output::chatter() noexcept {
    return options_.cmu_mode && !options_.json ? out_ : err_;
}

void shell_output::emit(json doc) {
    doc["args"] = args_;
    print_json_line(out_, doc);
}

line_result shell_output::usage(const std::string& message, bool about_answer) {
    // The message may quote what was typed: no control byte reaches the terminal.
    auto text = escape_terminal(message);
    // A command's line (-e's number too); an answer or password may come
    // from another source, which answer_place() names.
    auto place = about_answer               ? input_.answer_place()
                 : input_.line_number() > 0 ? fmt::format("line {}", input_.line_number())
                                            : std::string();
    if (!place.empty())
        fmt::print(err_, "hsmsh: {}: {}\n", place, text);
    else
        fmt::print(err_, "hsmsh: {}\n", text);
    if (!input_.interactive()) refused_line_ = input_.line_number();
    return line_result::usage_error;
}

line_result shell_output::declined(const command_spec& spec) {
    // A script reading --json learns that nothing ran, and why.
    if (options_.json) emit(json{{"command", spec.name}, {"declined", true}});
    return line_result::cancelled;
}

line_result shell_output::finish(std::string_view command,
                                 const std::vector<server_report>& reports) {
    if (options_.json)
        emit(result_json(command, reports));
    else
        print_server_lines(out_, command, reports, options_.color);
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    if (interrupted(reports)) return line_result::cancelled;
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

line_result shell_output::deliver(const std::string& text, const std::optional<std::string>& file,
                                  line_result result) {
    out_ << text;
    if (!file) return result;
    try {
        write_file_atomic(*file, text, 0600);
    } catch (const std::exception& e) {
        fmt::print(err_, "cannot write {}: {}\n", *file, e.what());
        return line_result::failed;
    }
    return result;
}

} // namespace hsm
