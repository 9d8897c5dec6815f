// SPDX-License-Identifier: Apache-2.0
// Batch and listed line sources.
#include "line_input.hpp"

#include "command_line.hpp"

#include <cerrno>

#include <fmt/format.h>

#include <unistd.h>

namespace hsm {

std::string line_input::answer_place() const {
    return line_number() > 0 ? fmt::format("line {}", line_number()) : std::string();
}

batch_input::batch_input(std::istream& in) : in_(in) {}

std::optional<std::string> batch_input::next() {
    std::streambuf* buf = in_.rdbuf();
    std::string line;
    bool any = false;
    for (;;) {
        int c = buf->sbumpc();
        if (c == std::char_traits<char>::eof()) break;
        any = true;
        if (c == '\n') break;
        // A line ends at \r\n, and at a lone \r too (expect's "send ...\r"
        // into a pipe).
        if (c == '\r') {
            if (buf->sgetc() == '\n') buf->sbumpc();
            break;
        }
        if (line.size() > max_line_length) {
            // Keep one byte too many and drop the rest: the parser reports it.
            continue;
        }
        line.push_back(static_cast<char>(c));
    }
    if (!any) return std::nullopt;
    ++line_;
    return line;
}

std::optional<std::string> batch_input::read_command(const std::string&) {
    return next();
}

std::optional<std::string> batch_input::read_answer(const std::string&) {
    return next();
}

std::optional<secret> batch_input::read_password(const std::string&) {
    auto line = next();
    if (!line) return std::nullopt;
    secret out{std::string(*line)};
    wipe(*line);
    return out;
}

with_passwords::with_passwords(line_input& lines, line_input& passwords)
    : lines_(lines), passwords_(passwords) {}

std::optional<std::string> with_passwords::read_command(const std::string& prompt) {
    return lines_.read_command(prompt);
}

std::optional<std::string> with_passwords::read_answer(const std::string& prompt) {
    last_was_password_ = false;
    return lines_.read_answer(prompt);
}

std::optional<secret> with_passwords::read_password(const std::string& prompt) {
    last_was_password_ = true;
    return passwords_.read_password(prompt);
}

std::string with_passwords::answer_place() const {
    if (!last_was_password_) return lines_.answer_place();
    auto n = passwords_.line_number();
    return n > 0 ? fmt::format("standard input line {}", n) : "--password-fd";
}

std::optional<secret> fd_passwords::read_password(const std::string&) {
    std::string text;
    bool any = false;
    char c = 0;
    for (;;) {
        ssize_t n = ::read(fd_, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        any = true;
        if (c == '\n') break;
        if (text.size() <= max_line_length) text.push_back(c);
    }
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (!any) return std::nullopt;
    secret out{std::string(text)};
    wipe(text);
    return out;
}

listed_input::listed_input(std::vector<std::string> commands, line_input& answers)
    : commands_(std::move(commands)), answers_(answers) {}

std::optional<std::string> listed_input::read_command(const std::string&) {
    if (next_ >= commands_.size()) return std::nullopt;
    return commands_[next_++];
}

std::optional<std::string> listed_input::read_answer(const std::string& prompt) {
    return answers_.read_answer(prompt);
}

std::optional<secret> listed_input::read_password(const std::string& prompt) {
    return answers_.read_password(prompt);
}

std::string listed_input::answer_place() const {
    auto n = answers_.line_number();
    return n > 0 ? fmt::format("-e {}, standard input line {}", next_, n)
                 : fmt::format("-e {}", next_);
}

} // namespace hsm
