// SPDX-License-Identifier: Apache-2.0
// Where the shell's lines come from: a script (batch) or a terminal (libedit).
#pragma once

#include "hsmsh/secret.hpp"

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace hsm {

/// A source of command lines, confirmation answers and passwords.
class line_input {
public:
    virtual ~line_input() = default;
    /// The next command line; nullopt at end of input.
    virtual std::optional<std::string> read_command(const std::string& prompt) = 0;
    /// The answer to a question; nullopt at end of input or on Ctrl-C.
    virtual std::optional<std::string> read_answer(const std::string& prompt) = 0;
    /// A password, without echo at a terminal; nullopt at end of input.
    virtual std::optional<secret> read_password(const std::string& prompt) = 0;
    virtual bool interactive() const noexcept = 0;
    /// The number of the last line read (batch), for error messages.
    virtual std::size_t line_number() const noexcept { return 0; }
    /// Offers a command line to the history; `text` never holds a secret.
    virtual void remember(const std::string& text) { (void)text; }
};

/// Reads a stream byte for byte: no prompt, no history, no echo control.
/// Lines longer than `max_line` bytes end the input with an error line.
class batch_input : public line_input {
public:
    explicit batch_input(std::istream& in);
    std::optional<std::string> read_command(const std::string& prompt) override;
    std::optional<std::string> read_answer(const std::string& prompt) override;
    std::optional<secret> read_password(const std::string& prompt) override;
    bool interactive() const noexcept override { return false; }
    std::size_t line_number() const noexcept override { return line_; }

private:
    std::optional<std::string> next();
    std::istream& in_;
    std::size_t line_ = 0;
};

/// A script (-f): commands and y/n answers from the script, passwords from a
/// second source (standard input), so that the script holds no secret.
class script_input : public line_input {
public:
    script_input(std::istream& script, line_input& passwords);
    std::optional<std::string> read_command(const std::string& prompt) override;
    std::optional<std::string> read_answer(const std::string& prompt) override;
    std::optional<secret> read_password(const std::string& prompt) override;
    bool interactive() const noexcept override { return false; }
    std::size_t line_number() const noexcept override { return script_.line_number(); }

private:
    batch_input script_;
    line_input& passwords_;
};

/// Commands from -e options; answers and passwords from a second source.
class listed_input : public line_input {
public:
    listed_input(std::vector<std::string> commands, line_input& answers);
    std::optional<std::string> read_command(const std::string& prompt) override;
    std::optional<std::string> read_answer(const std::string& prompt) override;
    std::optional<secret> read_password(const std::string& prompt) override;
    bool interactive() const noexcept override { return false; }
    std::size_t line_number() const noexcept override { return next_; }

private:
    std::vector<std::string> commands_;
    std::size_t next_ = 0;
    line_input& answers_;
};

} // namespace hsm
