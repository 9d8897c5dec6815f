// SPDX-License-Identifier: Apache-2.0
// Splitting a line into words (shell-like quoting) and parsing it against the table.
#pragma once

#include "command_table.hpp"
#include "hsmsh/protocol/user_rules.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hsm {

/// A line that cannot be parsed; the message never repeats a password.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr std::size_t max_line_length = 4096;

/// `word` in single quotes, as a POSIX shell (and split_words) takes it
/// literally, whatever it holds: for command lines printed to be pasted.
std::string shell_quoted(std::string_view word);

/// A file a command names, of at most `limit` bytes, as bytes; a usage
/// error saying `what` it is otherwise.
std::string read_argument_file(const std::string& path, std::size_t limit, std::string_view what);

/// Splits on blanks; '...' is literal, "..." allows \" and \\, a backslash
/// outside quotes escapes the next byte, and an unquoted '#' at the start of a
/// word ends the line. Throws usage_error (unterminated quote, line too long).
std::vector<std::string> split_words(std::string_view line);

/// A command with its arguments; the password, if any, is kept apart.
struct parsed_command {
    const command_spec* spec = nullptr;
    std::vector<std::string> args; // without the password
    std::optional<std::string> inline_password;
    bool prompt_password = false;               // omitted or -hpswd
    std::optional<std::string> two_factor_file; // -2fa <authdata-file>
    bool revoke = false;                        // -revoke

    /// The line as history may keep it: an inline password replaced by -hpswd.
    std::string history_text() const;
};

/// What history keeps of a line that did not parse, so that it can be
/// recalled and corrected: the words up to where the named command (or the
/// command it is near, or any it is a prefix of) takes a password, then
/// -hpswd. Nothing when the first word names no command (it may be a
/// password typed at the wrong prompt) or the line does not split.
std::optional<std::string> history_text_of_failed(std::string_view line);

/// A user command's first two arguments: the type and the name.
struct named_user {
    user_type type;
    std::string name; // canonical
};

/// Reads and checks them. Throws usage_error (unknown type, invalid name).
named_user user_arguments(const parsed_command& cmd);

/// A non-negative decimal number, all of `text` (a user id, a handle, an
/// attribute id, a key count); nullopt for anything else.
std::optional<std::int64_t> parse_number(std::string_view text);

/// Parses words into a command; nullopt for an empty line or comment.
/// Throws usage_error naming the problem (unknown or ambiguous command with
/// its candidates, wrong number of arguments).
std::optional<parsed_command> parse_command(std::vector<std::string> words);

/// A server number below `size` ("0", "12"); nullopt for anything else.
std::optional<std::size_t> parse_server_number(const std::string& text, std::size_t size);

/// A y/n answer: y, yes, n or no in any case, blanks around ignored;
/// nullopt for anything else.
std::optional<bool> parse_yes_no(std::string_view answer);

/// Checks a whole script (-f) before anything runs: every line parses, and
/// each command that will ask is followed by its y/n line. Passwords are not
/// in the script (they come from standard input), so a line after a
/// command that asks for one is refused without being repeated. The first
/// problem as "line N: ...", or nullopt.
std::optional<std::string> check_script(std::string_view text, confirmation_set confirmations,
                                        bool assume_yes);

} // namespace hsm
