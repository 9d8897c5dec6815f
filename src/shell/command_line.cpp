// SPDX-License-Identifier: Apache-2.0
// Splitting and parsing command lines.
#include "command_line.hpp"

#include "hsmsh/log.hpp"
#include "hsmsh/secret.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

namespace hsm {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string quote_if_needed(const std::string& word) {
    // Every byte split_words treats specially, blanks included: a word holding
    // a carriage return must come back as one word.
    if (!word.empty() && word.find_first_of(" \t\r\n'\"\\#") == std::string::npos) return word;
    return shell_quoted(word);
}

// Appends the "..." that starts at `open` to `word` (\" and \\ escape);
// returns the index of the closing quote.
std::size_t append_double_quoted(std::string_view line, std::size_t open, std::string& word) {
    for (auto i = open + 1;; ++i) {
        if (i >= line.size()) throw usage_error("unterminated double quote");
        if (line[i] == '"') return i;
        if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\'))
            ++i;
        word += line[i];
    }
}

// The command a word names: exactly, or as a unique prefix.
const command_spec& command_named(const std::string& word) {
    auto found = find_command(word);
    if (found.spec) return *found.spec;
    if (found.matches.empty())
        throw usage_error(fmt::format(
            "unknown command '{}': {}type help for the list", escape_control(word),
            found.suggestion.empty() ? std::string()
                                     : fmt::format("did you mean {}? ", found.suggestion)));
    throw usage_error(fmt::format("ambiguous command '{}': {}", escape_control(word),
                                  fmt::join(found.matches, ", ")));
}

// Takes -2fa <file> and -revoke out of the arguments, where the command
// has them: anywhere after the user type and name.
void take_options(parsed_command& cmd) {
    const auto& spec = *cmd.spec;
    if (spec.two_factor && cmd.args.size() > 2) {
        auto at = std::find(cmd.args.begin() + 2, cmd.args.end(), "-2fa");
        if (at != cmd.args.end()) {
            if (at + 1 == cmd.args.end())
                throw usage_error("-2fa takes the path of the authdata file");
            cmd.two_factor_file = *(at + 1);
            cmd.args.erase(at, at + 2);
        }
    }
    // -revoke: an officer's change that ends the user's sessions.
    if (spec.revocable && cmd.args.size() > 2) {
        auto at = std::find(cmd.args.begin() + 2, cmd.args.end(), "-revoke");
        if (at != cmd.args.end()) {
            cmd.revoke = true;
            cmd.args.erase(at);
        }
    }
}

// Keeps the password argument apart (-hpswd or none: asked for).
void take_password(parsed_command& cmd) {
    if (cmd.spec->password_arg < 0) return;
    auto index = static_cast<std::size_t>(cmd.spec->password_arg);
    if (cmd.args.size() > index) {
        if (cmd.args[index] != "-hpswd") cmd.inline_password = std::move(cmd.args[index]);
        cmd.args.erase(cmd.args.begin() + static_cast<std::ptrdiff_t>(index));
    }
    cmd.prompt_password = !cmd.inline_password;
}

} // namespace

std::string shell_quoted(std::string_view word) {
    std::string out = "'";
    for (char c : word)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::vector<std::string> split_words(std::string_view line) {
    if (line.size() > max_line_length)
        throw usage_error(fmt::format("line longer than {} bytes", max_line_length));
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (is_blank(c)) {
            if (in_word) words.push_back(std::exchange(word, {}));
            in_word = false;
        } else if (c == '#' && !in_word) {
            break;
        } else if (c == '\'') {
            auto end = line.find('\'', i + 1);
            if (end == std::string_view::npos) throw usage_error("unterminated single quote");
            word.append(line.substr(i + 1, end - i - 1));
            i = end;
            in_word = true;
        } else if (c == '"') {
            i = append_double_quoted(line, i, word);
            in_word = true;
        } else if (c == '\\') {
            if (i + 1 >= line.size()) throw usage_error("line ends with a backslash");
            word += line[++i];
            in_word = true;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
}

std::optional<parsed_command> parse_command(std::vector<std::string> words) {
    if (words.empty()) return std::nullopt;
    parsed_command cmd;
    cmd.spec = &command_named(words.front());
    cmd.args.assign(words.begin() + 1, words.end());
    take_options(cmd);
    if (cmd.args.size() < cmd.spec->min_args || cmd.args.size() > cmd.spec->max_args)
        throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    take_password(cmd);
    return cmd;
}

std::optional<std::size_t> parse_server_number(const std::string& text, std::size_t size) {
    if (text.empty() || text.size() > 3 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    auto n = static_cast<std::size_t>(std::stoul(text));
    return n < size ? std::optional(n) : std::nullopt;
}

std::string parsed_command::history_text() const {
    std::string out(spec->name);
    for (const auto& a : args)
        out += " " + quote_if_needed(a);
    if (spec->password_arg >= 0) out += " -hpswd";
    if (two_factor_file) out += " -2fa " + quote_if_needed(*two_factor_file);
    if (revoke) out += " -revoke";
    return out;
}

std::optional<std::string> history_text_of_failed(std::string_view line) {
    std::vector<std::string> words;
    try {
        words = split_words(line);
    } catch (const usage_error&) {
        return std::nullopt;
    }
    if (words.empty()) return std::nullopt;
    auto found = find_command(words.front());
    std::vector<const command_spec*> candidates;
    if (found.spec) candidates.push_back(found.spec);
    for (auto name : found.matches)
        candidates.push_back(find_command(name).spec);
    if (candidates.empty() && !found.suggestion.empty())
        candidates.push_back(find_command(found.suggestion).spec);
    std::optional<std::string> out;
    if (!candidates.empty()) {
        // The earliest place any candidate takes a password.
        std::size_t keep = words.size();
        for (const auto* c : candidates)
            if (c && c->password_arg >= 0)
                keep = std::min(keep, static_cast<std::size_t>(c->password_arg) + 1);
        out = quote_if_needed(words.front());
        for (std::size_t i = 1; i < keep; ++i)
            *out += " " + quote_if_needed(words[i]);
        if (keep < words.size()) *out += " -hpswd";
    }
    for (auto& w : words)
        wipe(w);
    return out;
}

std::optional<std::int64_t> parse_number(std::string_view text) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 0) return std::nullopt;
    return n;
}

named_user user_arguments(const parsed_command& cmd) {
    auto type = user_type_from_name(cmd.args.at(0));
    if (!type)
        throw usage_error(
            fmt::format("unknown user type '{}': use PRECO, CO, PCO, CU or AU", cmd.args.at(0)));
    if (!valid_user_name(cmd.args.at(1)))
        throw usage_error(std::string(status_description(status::invalid_user_name)));
    return {*type, canonical_user_name(cmd.args.at(1))};
}

std::optional<bool> parse_yes_no(std::string_view answer) {
    auto first = answer.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return std::nullopt;
    answer = answer.substr(first, answer.find_last_not_of(" \t\r") - first + 1);
    auto is = [&](std::string_view word) {
        return answer.size() == word.size() && std::ranges::equal(answer, word, [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == b;
               });
    };
    if (is("y") || is("yes")) return true;
    if (is("n") || is("no")) return false;
    return std::nullopt;
}

namespace {

// A line of words that is no command but starts with a near miss of one
// ("creatUser CU bob") is a typo, which parsing explains (did you mean
// ...?), not a stray password. One word alone may be the password: never
// repeated.
bool near_a_command(std::string_view line) {
    try {
        auto words = split_words(line);
        return words.size() > 1 && !find_command(words.front()).suggestion.empty();
    } catch (const usage_error&) {
        return false;
    }
}

} // namespace

std::optional<std::string> check_script(std::string_view text, confirmation_set confirmations,
                                        bool assume_yes) {
    // Lines end as batch input ends them: \n, \r\n or a lone \r.
    std::vector<std::string_view> lines;
    for (std::size_t start = 0; start < text.size();) {
        auto end = std::min(text.find_first_of("\r\n", start), text.size());
        lines.push_back(text.substr(start, end - start));
        start = end + (text.substr(end, 2) == "\r\n" ? 2 : 1);
    }
    // Whether the line before asked for a password: the next line is then
    // most likely that password, and is never repeated.
    bool after_password_prompt = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto where = [&](std::size_t k) { return fmt::format("line {}: ", k + 1); };
        std::optional<parsed_command> cmd;
        try {
            cmd = parse_command(split_words(lines[i]));
        } catch (const usage_error& e) {
            if (after_password_prompt && !near_a_command(lines[i]))
                return where(i) + "not a command (with -f, passwords come from standard input, "
                                  "not from the script)";
            return where(i) + e.what();
        }
        after_password_prompt = cmd && cmd->prompt_password;
        if (cmd && cmd->inline_password) wipe(*cmd->inline_password);
        if (!cmd || assume_yes || !asks_confirmation(*cmd->spec, confirmations)) continue;
        if (i + 1 >= lines.size() || !parse_yes_no(lines[i + 1]))
            return where(i + 1) +
                   fmt::format("{} expects a line 'y' or 'n' to confirm", cmd->spec->name);
        ++i; // the answer
        after_password_prompt = false;
    }
    return std::nullopt;
}

} // namespace hsm
