// SPDX-License-Identifier: Apache-2.0
// The interactive line source: libedit with history, completion and Ctrl-R.
#pragma once

#include "line_input.hpp"

#include <filesystem>
#include <functional>
#include <memory>

namespace hsm {

/// Offers completions for the word being typed, given the words before it.
using completer = std::function<std::vector<std::string>(const std::vector<std::string>& before,
                                                         const std::string& partial)>;

/// Line editing on the terminal (stdin/stdout). Owns the EditLine and History
/// handles. History is loaded from and saved to `history_file` (mode 0600;
/// empty: kept in memory only)
/// after every command; lines starting with a space are not kept.
class terminal_input : public line_input {
public:
    terminal_input(std::filesystem::path history_file, completer complete);
    ~terminal_input() override;
    terminal_input(const terminal_input&) = delete;
    terminal_input& operator=(const terminal_input&) = delete;

    std::optional<std::string> read_command(const std::string& prompt) override;
    std::optional<std::string> read_answer(const std::string& prompt) override;
    std::optional<secret> read_password(const std::string& prompt) override;
    bool interactive() const noexcept override { return true; }
    void remember(const std::string& text) override;

    struct impl;

private:
    /// Ctrl-C abandons the line: a fresh prompt, or, when `interruptible`, nullopt.
    std::optional<std::string> read_line(const std::string& prompt, bool interruptible);
    std::unique_ptr<impl> impl_;
};

/// Set by the SIGINT handler, cleared by whoever handles it.
extern std::atomic<bool> interrupt_requested;

/// Installs a SIGINT handler (without SA_RESTART) that sets interrupt_requested.
void install_interrupt_handler();

} // namespace hsm
