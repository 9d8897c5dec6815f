// SPDX-License-Identifier: Apache-2.0
// Word splitting, command lookup and parsing, and the config file.
#include "command_line.hpp"
#include "hsmsh/client/config.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"

#include <doctest/doctest.h>

using namespace hsm;

TEST_CASE("words split with shell-like quoting and comments") {
    using v = std::vector<std::string>;
    CHECK(split_words("  listUsers  ") == v{"listUsers"});
    CHECK(split_words("a 'b c' \"d \\\" e\" f\\ g") == v{"a", "b c", "d \" e", "f g"});
    CHECK(split_words("# just a comment").empty());
    CHECK(split_words("listUsers # trailing") == v{"listUsers"});
    CHECK(split_words("pass#word") == v{"pass#word"});
    CHECK(split_words("''") == v{""});
    CHECK_THROWS_AS(split_words("'unterminated"), usage_error);
    CHECK_THROWS_AS(split_words("\"unterminated"), usage_error);
    CHECK_THROWS_AS(split_words(std::string(max_line_length + 1, 'a')), usage_error);
}

TEST_CASE("commands match exactly or by a unique prefix") {
    CHECK(find_command("listUsers").spec->id == command_id::list_users);
    CHECK(find_command("listU").spec->id == command_id::list_users);
    CHECK(find_command("logi").spec->id == command_id::login);
    auto ambiguous = find_command("log");
    CHECK(ambiguous.spec == nullptr);
    CHECK(ambiguous.matches.size() == 2);
    CHECK(find_command("nope").matches.empty());
    CHECK_THROWS_WITH_AS(parse_command({"log"}), "ambiguous command 'log': loginHSM, logoutHSM",
                         usage_error);
}

TEST_CASE("command names match in any case, and a near miss gets a suggestion") {
    CHECK(find_command("listusers").spec->id == command_id::list_users);
    CHECK(find_command("LISTUSERS").spec->id == command_id::list_users);
    CHECK(find_command("LoGi").spec->id == command_id::login);
    auto typo = find_command("lstUsers");
    CHECK(typo.spec == nullptr);
    CHECK(typo.suggestion == "listUsers");
    CHECK(find_command("creatUsr").suggestion == "createUser");
    CHECK(find_command("frobnicate").suggestion.empty());
    CHECK_THROWS_WITH_AS(parse_command({"lstUsers"}),
                         "unknown command 'lstUsers': did you mean listUsers? type help for the "
                         "list",
                         usage_error);
    CHECK_THROWS_WITH_AS(parse_command({"frobnicate"}),
                         "unknown command 'frobnicate': type help for the list", usage_error);
}

TEST_CASE("y/n answers: y, yes, n, no in any case") {
    for (auto yes : {"y", "Y", "yes", "YES", "Yes", " y ", "y\r"})
        CHECK(parse_yes_no(yes) == true);
    for (auto no : {"n", "N", "no", "NO", "nO"})
        CHECK(parse_yes_no(no) == false);
    for (auto other : {"", " ", "ye", "yess", "maybe", "0", "1", "nope", "y n"})
        CHECK_FALSE(parse_yes_no(other).has_value());
}

TEST_CASE("a script is checked whole before it runs") {
    auto check = [](std::string_view text, bool yes = false) {
        return check_script(text, confirmation_set::hsmsh, yes);
    };
    CHECK_FALSE(
        check("loginHSM CO admin -hpswd\ncreateUser CU a -hpswd\ny\n\n# done\nlistUsers\n"));
    CHECK_FALSE(check("loginHSM CO admin -hpswd\r\ncreateUser CU a -hpswd\r\nYES\r\n"));
    CHECK(check("listUsers\ncreateUser CU a -hpswd\ny\nlstUsers\n") ==
          "line 4: unknown command 'lstUsers': did you mean listUsers? type help for the list");
    CHECK(check("createUser CU a -hpswd\nlistUsers\n") ==
          "line 2: createUser expects a line 'y' or 'n' to confirm");
    CHECK(check("deleteUser CU a\n") == "line 2: deleteUser expects a line 'y' or 'n' to confirm");
    CHECK_FALSE(check("deleteUser CU a\n", true)); // -y: no answers
    CHECK_FALSE(check_script("deleteUser CU a\n", confirmation_set::cmu, false));
    // A password where the command line should be is never repeated.
    auto leaked = check("loginHSM CO admin -hpswd\nS3cret-officer\n");
    REQUIRE(leaked);
    CHECK(leaked->find("S3cret") == std::string::npos);
    CHECK(leaked->starts_with("line 2: not a command (with -f, passwords come from"));
}

TEST_CASE("server numbers are small decimal numbers below the count") {
    CHECK(parse_server_number("0", 3) == 0u);
    CHECK(parse_server_number("2", 3) == 2u);
    CHECK_FALSE(parse_server_number("3", 3));
    CHECK_FALSE(parse_server_number("-1", 3));
    CHECK_FALSE(parse_server_number("1x", 3));
    CHECK_FALSE(parse_server_number("", 3));
    CHECK_FALSE(parse_server_number("99999999999999999999", 3));
}

TEST_CASE("the table is sorted and each entry is well formed") {
    auto table = command_table();
    for (std::size_t i = 1; i < table.size(); ++i)
        CHECK(table[i - 1].name < table[i].name);
    for (const auto& c : table) {
        CHECK(c.min_args <= c.max_args);
        CHECK(c.synopsis.starts_with(c.name));
        if (c.password_arg >= 0) CHECK(static_cast<std::size_t>(c.password_arg) < c.max_args);
    }
}

TEST_CASE("passwords are kept apart from arguments and out of history") {
    auto cmd = parse_command({"createUser", "CU", "alice", "s3cret-pw"});
    REQUIRE(cmd);
    CHECK(cmd->args == std::vector<std::string>{"CU", "alice"});
    CHECK(cmd->inline_password == "s3cret-pw");
    CHECK_FALSE(cmd->prompt_password);
    CHECK(cmd->history_text() == "createUser CU alice -hpswd");
    auto prompted = parse_command({"loginHSM", "CO", "admin", "-hpswd"});
    CHECK(prompted->prompt_password);
    CHECK(parse_command({"loginHSM", "CO", "admin"})->prompt_password);
    CHECK_THROWS_AS(parse_command({"deleteUser", "CU"}), usage_error);
    CHECK_THROWS_AS(parse_command({"listUsers", "--summary", "extra"}), usage_error);
    CHECK_FALSE(parse_command({}));
}

TEST_CASE("history keeps a line that runs the same command again") {
    // Found by fuzz_command: a quoted carriage return came back as two words.
    for (std::string name : {"a b", "it's", "cr\rlf\n", "tab\there", "#hash", "back\\slash", ""}) {
        auto cmd = parse_command({"deleteUser", "CU", name});
        REQUIRE(cmd);
        auto back = parse_command(split_words(cmd->history_text()));
        REQUIRE(back);
        CHECK(back->spec == cmd->spec);
        CHECK(back->args == cmd->args);
    }
}

namespace {
struct temp_file {
    fs::path path;
    explicit temp_file(std::string_view text)
        : path(fs::temp_directory_path() / ("hsmsh-test-" + std::to_string(::getpid()) + ".json")) {
        write_file_atomic(path, text, 0600);
    }
    ~temp_file() { fs::remove(path); }
};
} // namespace

TEST_CASE("config errors name the file and the field") {
    temp_file bad(R"({"clusters":[{"cluster_id":"c1","hsm_ca_cert":"ca.crt","client_cert":"c.crt",
                    "servers":[{"hostname":"127.0.0.1","port":2225}]}]})");
    CHECK_THROWS_WITH_AS(load_config(bad.path),
                         (bad.path.string() + ": clusters[0].client_key: missing").c_str(),
                         config_error);
    temp_file port(R"({"clusters":[{"cluster_id":"c1","hsm_ca_cert":"a","client_cert":"b",
                     "client_key":"k","servers":[{"hostname":"h","port":70000}]}]})");
    CHECK_THROWS_WITH_AS(
        load_config(port.path),
        (port.path.string() + ": clusters[0].servers[0].port: must be a port number").c_str(),
        config_error);
    temp_file junk("{not json");
    CHECK_THROWS_AS(load_config(junk.path), config_error);
    CHECK_THROWS_AS(load_config("/nonexistent/hsmsh.json"), config_error);
}

TEST_CASE("our config and CMU's both load, with paths relative to the file") {
    temp_file ours(R"({"default_cluster":"c2","clusters":[
        {"cluster_id":"c1","hsm_ca_cert":"ca.crt","client_cert":"c.crt","client_key":"c.key",
         "servers":[{"name":"a","hostname":"10.0.0.1","port":2225}]},
        {"cluster_id":"c2","hsm_ca_cert":"/abs/ca.crt","client_cert":"c.crt","client_key":"c.key",
         "servers":[{"hostname":"10.0.0.2"}]}]})");
    auto c = load_config(ours.path);
    CHECK(c.select("").cluster_id == "c2");
    CHECK(c.select("c1").hsm_ca_cert == ours.path.parent_path() / "ca.crt");
    CHECK(c.select("c2").hsm_ca_cert == "/abs/ca.crt");
    CHECK(c.select("c2").servers[0].name == "10.0.0.2");
    CHECK(c.select("c2").servers[0].port == 2225);
    CHECK_THROWS_AS(c.select("c3"), config_error);

    temp_file cmu(
        R"({"scard":{"enable":"no"},"servers":[{"CAfile":"","certificate":"/etc/client.crt",
        "pkey":"/etc/client.key","e2e_encryption":{"enable":"yes","owner_cert_path":"/etc/customerCA.crt"},
        "hostname":"10.10.4.20","name":"10.10.4.20","port":2225}]})");
    auto m = load_config(cmu.path);
    REQUIRE(m.clusters.size() == 1);
    CHECK(m.select("").servers[0].hostname == "10.10.4.20");
    CHECK(m.select("").hsm_ca_cert == "/etc/customerCA.crt");
}

TEST_CASE("what was typed reaches the terminal without its control bytes") {
    using namespace std::string_literals;
    CHECK(escape_terminal("a\x1b[31m\0b\x7f"s) == "a\\x1b[31m\\x00b\\x7f");
    CHECK(escape_terminal("caf\xc3\xa9 C:\\dir") == "caf\xc3\xa9 C:\\dir");
    // C1 controls, raw or UTF-8 encoded (U+009B is CSI), and stray bytes.
    CHECK(escape_terminal("a\x9b"
                          "31mb") == "a\\x9b31mb");
    CHECK(escape_terminal("a\xc2\x9b"
                          "31m") == "a\\xc2\\x9b31m");
    CHECK(escape_terminal("\xc0\xaf\xff") == "\\xc0\\xaf\\xff");
    CHECK(escape_terminal("\xe2\x82\xac \xf0\x9f\x94\x91") == "\xe2\x82\xac \xf0\x9f\x94\x91");
    try {
        parse_command({"\x1b[2Jlist\0x"s});
        FAIL("parsed");
    } catch (const usage_error& e) {
        // Escaped where the word is quoted, so a NUL cannot cut the message.
        CHECK(std::string(e.what()) ==
              "unknown command '\\x1b[2Jlist\\x00x': type help for the list");
    }
}

TEST_CASE("history keeps a line that did not parse, without its password") {
    // Too many words: the password and what follows it are masked.
    CHECK(history_text_of_failed("loginHSM CO admin s3cret extra") == "loginHSM CO admin -hpswd");
    // A near miss of a command that takes a password at the same place.
    CHECK(history_text_of_failed("creatUser CU bob bob-pass") == "creatUser CU bob -hpswd");
    // An ambiguous prefix: masked where any candidate takes a password.
    CHECK(history_text_of_failed("l CO admin pw") == "l CO admin -hpswd");
    // A command without passwords keeps its words (quoted as needed).
    CHECK(history_text_of_failed("listUsers 'a b' c") == "listUsers 'a b' c");
    // No command: it may be a password typed at the wrong prompt.
    CHECK_FALSE(history_text_of_failed("Tr0ub4dor&3"));
    CHECK_FALSE(history_text_of_failed("'unterminated"));
    CHECK_FALSE(history_text_of_failed("   "));
}
