//! One test per grammar rule: strings it must accept whole, strings it must reject.

use pest::Parser;

use super::{Rule, RulesParser};

/// Whether `rule` matches all of `input`.
fn accepts(grammar_rule: Rule, input: &str) -> bool {
    match RulesParser::parse(grammar_rule, input) {
        Ok(pairs) => pairs
            .last()
            .is_some_and(|p| p.as_span().end() == input.len()),
        Err(_) => false,
    }
}

fn check(grammar_rule: Rule, good: &[&str], bad: &[&str]) {
    for input in good {
        assert!(
            accepts(grammar_rule, input),
            "{grammar_rule:?} should accept {input:?}"
        );
    }
    for input in bad {
        assert!(
            !accepts(grammar_rule, input),
            "{grammar_rule:?} should reject {input:?}"
        );
    }
}

#[test]
fn ident() {
    check(
        Rule::ident,
        &["title", "_x", "level2", "job_title"],
        &["2x", "job-title", "", "a b"],
    );
}

#[test]
fn string() {
    check(
        Rule::string,
        &[
            r#""""#,
            r#""Job Title""#,
            r#""a \"b\" \\ \n \u{3000}""#,
            r#""사장 비서""#,
        ],
        &[r#""unclosed"#, "\"line\nbreak\"", "'single'"],
    );
}

#[test]
fn regex() {
    check(
        Rule::regex,
        &[r"/\bl(\d+)\b/", r"/a\/b/i", r"/x/imsx"],
        &["//", "/a", "/a\nb/"],
    );
}

#[test]
fn keywords_end_at_word_boundaries() {
    check(Rule::k_rule, &["rule"], &["rules", "rule_x"]);
    check(Rule::k_in, &["in"], &["input", "intern"]);
}

#[test]
fn extends_and_alias() {
    check(
        Rule::extends_decl,
        &[r#"extends "../default.rules""#],
        &["extends default.rules", "extend \"x\""],
    );
    check(
        Rule::alias_decl,
        &[r#"alias acme = "urn:x:acme:2.0:User""#],
        &["alias = \"urn\"", "alias acme \"urn\""],
    );
}

#[test]
fn require_and_optional() {
    check(
        Rule::require_decl,
        &["require first_name", "require  job_title"],
        &["require", "require \"x\"", "required x", "requirex"],
    );
    check(
        Rule::optional_decl,
        &["optional last_name"],
        &["optional", "optional x: text", "optionals x"],
    );
}

#[test]
fn field_decl() {
    check(
        Rule::field_decl,
        &[
            "field first_name: text required",
            "field job_title: text recommended",
            "field people_manager: flag",
            "field manager_email: email",
            r#"field status: enum(active, inactive)"#,
            "field level: enum(VP, \"Sr. Manager\",)",
        ],
        &[
            "field x text",
            "field x: number",
            "field x: enum()",
            "field x: text requried",
        ],
    );
}

#[test]
fn input_decl() {
    check(
        Rule::input_decl,
        &[
            "input title = title",
            r#"input title = title, "Job Title", jobTitle | nfkc | lower | words"#,
            r#"input email = emails[type eq "work"].value | trim | lower"#,
            "input dept = enterprise:department, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "input boss = enterprise:manager.value",
            r#"input rank = @title | cut_after(" to ", " for ")"#,
            r#"input t = title | replace(/\bsr\b/, "senior")"#,
            r#"input p = emails[type eq "work" and primary eq true].value"#,
        ],
        &["input = title", "input t title", "input t = ", "input t = title |", r#"input t = emails[type eq].value"#],
    );
}

#[test]
fn path() {
    check(
        Rule::path,
        &[
            "title",
            "name.givenName",
            "enterprise:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            r#"emails[type eq "work"].value"#,
        ],
        &["name .givenName", "name.", ".x", "a:b:"],
    );
}

#[test]
fn list_decl() {
    check(
        Rule::list_decl,
        &[
            r#"list c_suite = ["ceo", "cfo"]"#,
            r#"list c_suite += ["cxo",]"#,
            "list none = []",
        ],
        &[r#"list x = "ceo""#, r#"list x -= ["a"]"#, r#"list = ["a"]"#],
    );
}

#[test]
fn table_decl() {
    check(
        Rule::table_decl,
        &[
            r#"table bands = { "M1" -> Manager  "M2" -> "Sr. Manager" }"#,
            r#"table bands = { "M1" -> Manager, "M2" -> VP, }"#,
            r#"table bands = csv("bands.csv")"#,
            r#"table bands = csv("bands.csv", key = "code", value = "level")"#,
            "table empty = {}",
        ],
        &[
            r#"table t = { "a": b }"#,
            r#"table t = csv(bands.csv)"#,
            r#"table t = { a -> b }"#,
            r#"table t = csv("x", column = "c")"#,
        ],
    );
}

#[test]
fn map_and_patches() {
    check(
        Rule::map_decl,
        &[
            "map level { }",
            "map level { rule a: t is present -> t  else -> unset }",
            r#"map level { rule ceo: title has any c_suite -> Executive }"#,
            r#"map level { rule b: code in table bands -> bands[code] }"#,
        ],
        &[
            "map level rule a: t is present -> t",
            "map { }",
            "map level { rule: t is empty -> x }",
            "map level { rule a t is empty -> x }",
        ],
    );
    check(
        Rule::override_decl,
        &["override level { else -> unset }"],
        &["override level.x { }"],
    );
    check(
        Rule::insert_decl,
        &[
            "insert before level.md { rule a: t is empty -> VP }",
            "insert after level.else { }",
        ],
        &["insert level.md { }", "insert before md { }"],
    );
    check(
        Rule::replace_decl,
        &["replace level.md { rule a: t == \"x\" -> VP }"],
        &["replace md { }"],
    );
    check(
        Rule::remove_decl,
        &["remove level.md"],
        &["remove level", "remove level.md { }"],
    );
}

#[test]
fn rule() {
    check(
        Rule::rule,
        &[
            r#"rule vp: title has "vp" or title has "vice president" -> VP"#,
            r#"rule x: not (t == "a" or t != "b") and t matches /c/i -> "Sr. Manager""#,
            r#"rule n: number(title, /\bl(\d+)\b/) >= 7 -> Director"#,
            r#"rule s: t starts with "sr" or t ends with any suffixes or t contains any ["x"] -> VP"#,
            r#"rule l: t in ["a", "b"] or t in names -> unset"#,
        ],
        &[
            r#"rule vp: title has "vp" => VP"#,
            "rule vp: -> VP",
            r#"rule vp title has "vp" -> VP"#,
            r#"rule n: number(title, /x/) >= -> VP"#,
        ],
    );
    check(
        Rule::else_rule,
        &["else -> unset", "else -> \"Individual Contributor\""],
        &["else unset", "else ->"],
    );
}

#[test]
fn condition_precedence() {
    // `or` binds loosest, then `and`, then `not`.
    let parsed = super::parse(
        "map f { rule r: not a is empty and b is empty or c is empty -> x }",
        crate::diag::FileId(0),
    );
    assert!(parsed.1.is_empty(), "{:?}", parsed.1);
    let text = super::sexpr::file(&parsed.0);
    assert!(
        text.contains("(or (and (not (empty a)) (empty b)) (empty c))"),
        "{text}"
    );
}

#[test]
fn tests_and_examples() {
    check(
        Rule::test_decl,
        &[
            "test \"a\" { }",
            "test \"vp\" {\n  title = \"VP Sales\"\n  \"Job Title\" = \"x\"\n  expect management_level = VP\n  expect people_manager = unset\n}",
            "test \"p\" { name.givenName = \"Ana\" expect first_name = \"Ana\" }",
        ],
        &["test vp { }", "test \"a\" { expect x }", "test \"a\" { title: \"x\" }"],
    );
    check(
        Rule::examples_decl,
        &[
            "examples level given title { \"CEO\" -> Executive \"x\" -> unset }",
            "examples level given \"Job Title\" { }",
        ],
        &[
            "examples level { }",
            "examples level given title { \"CEO\" Executive }",
        ],
    );
}

#[test]
fn whole_file_with_comments_and_crlf() {
    let text = "# header\r\nfield f: text # trailing\r\ninput i = x | trim\r\nmap f {\r\n  rule a: i is present -> i # why\r\n}\r\n";
    assert!(accepts(Rule::file, text));
}
