// SPDX-License-Identifier: Apache-2.0
// Where the shell's words go: results on standard output (one JSON
// document per command with --json), notes and errors on standard error.
#pragma once

#include "hsmsh/outcome.hpp"
#include "line_input.hpp"
#include "shell_options.hpp"

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// The shell's output streams and the rules of what goes where. Lives on
/// the terminal thread; the streams and the input outlive it.
class shell_output {
public:
    shell_output(std::ostream& out, std::ostream& err, line_input& input,
                 const shell_options& options);

    /// Results.
    std::ostream& out() noexcept { return out_; }
    /// Errors and notices.
    std::ostream& err() noexcept { return err_; }
    /// Notes beside a result: standard error with --json (which keeps
    /// standard output to the documents), else standard output.
    std::ostream& info() noexcept;
    /// Where connection lines go: standard output in CMU mode (as CMU), else
    /// standard error.
    std::ostream& chatter() noexcept;

    /// The arguments of the command running, which every --json document names.
    void set_args(std::vector<std::string> args) { args_ = std::move(args); }
    /// Prints a command's --json document, with the command's arguments
    /// (never a password: parsing keeps it apart).
    void emit(json doc);
    /// Prints a usage error with where it is ("line 3"; `about_answer`: where
    /// the answer or password was read, "-e 2, standard input line 3").
    line_result usage(const std::string& message, bool about_answer = false);
    /// In a script, the line of the last command refused before it ran: the
    /// lines after it that are not commands are its password and answer.
    std::optional<std::size_t> refused_line() const noexcept { return refused_line_; }
    void forget_refused_line() noexcept { refused_line_.reset(); }
    /// The answer was no: says so in JSON mode; cancelled.
    line_result declined(const command_spec& spec);
    /// Prints the per-server results of `command`; ok when every server
    /// (and at least one) succeeded, cancelled after Ctrl-C.
    line_result finish(std::string_view command, const std::vector<server_report>& reports);
    /// Prints `text`, and writes it to `file` when one is named (as CMU's
    /// optional output file), readable by its owner only.
    line_result deliver(const std::string& text, const std::optional<std::string>& file,
                        line_result result);

private:
    std::ostream& out_;
    std::ostream& err_;
    line_input& input_;
    const shell_options& options_;
    std::vector<std::string> args_;
    std::optional<std::size_t> refused_line_;
};

} // namespace hsm
