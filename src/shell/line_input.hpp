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
    /// Where the last answer or password was read, for error messages:
    /// "line 3"; empty when there is no line to name (a terminal).
    virtual std::string answer_place() const;
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

/// Lines from one source, passwords from another: a script (-f) whose
/// passwords come from standard input, or any source with --password-fd.
class with_passwords : public line_input {
public:
    with_passwords(line_input& lines, line_input& passwords);
    std::optional<std::string> read_command(const std::string& prompt) override;
    std::optional<std::string> read_answer(const std::string& prompt) override;
    std::optional<secret> read_password(const std::string& prompt) override;
    bool interactive() const noexcept override { return lines_.interactive(); }
    std::size_t line_number() const noexcept override { return lines_.line_number(); }
    /// The script's line for an answer; for a password, its source's.
    std::string answer_place() const override;
    void remember(const std::string& text) override { lines_.remember(text); }

private:
    line_input& lines_;
    line_input& passwords_;
    bool last_was_password_ = false;
};

/// Passwords, one per line, from a file descriptor (--password-fd), read
/// byte by byte so that nothing past a password is buffered in memory.
class fd_passwords : public line_input {
public:
    explicit fd_passwords(int fd) : fd_(fd) {}
    std::optional<std::string> read_command(const std::string&) override { return std::nullopt; }
    std::optional<std::string> read_answer(const std::string&) override { return std::nullopt; }
    std::optional<secret> read_password(const std::string& prompt) override;
    bool interactive() const noexcept override { return false; }

private:
    int fd_;
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
    /// "-e 2, standard input line 3": the command, and the line it read.
    std::string answer_place() const override;

private:
    std::vector<std::string> commands_;
    std::size_t next_ = 0;
    line_input& answers_;
};

} // namespace hsm
