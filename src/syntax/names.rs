//! Human names for grammar rules, so syntax errors read "expected a condition", not
//! "expected disjunction". The match has no wildcard arm: a new grammar rule without a name
//! fails the build.

use super::Rule;

pub fn rule_name(grammar_rule: Rule) -> &'static str {
    match grammar_rule {
        Rule::EOI => "end of file",
        Rule::WHITESPACE => "whitespace",
        Rule::p_arrow => "`->`",
        Rule::p_colon => "`:`",
        Rule::p_assign => "`=`",
        Rule::p_open_brace => "`{`",
        Rule::p_close_brace => "`}`",
        Rule::p_open_paren => "`(`",
        Rule::p_close_paren => "`)`",
        Rule::p_comma => "`,`",
        Rule::p_open_bracket => "`[`",
        Rule::p_close_bracket => "`]`",
        Rule::COMMENT => "a comment",
        Rule::item => "a declaration (field, input, list, table, map, test …)",
        Rule::kw_char => "a letter, digit or `_`",
        Rule::string_escape => "an escape (\\\" \\\\ \\n \\t \\u{…})",
        Rule::urn_chunk => "a URN part",
        Rule::atom => "a condition",
        Rule::test => "a test (has, matches, ==, in, starts with, contains, is empty …)",
        Rule::file => "a rule file",
        Rule::ident => "a name",
        Rule::number => "a number",
        Rule::string => "a quoted string",
        Rule::string_inner => "string text",
        Rule::regex => "a regex like /…/",
        Rule::regex_body => "a regex pattern",
        Rule::regex_flags => "regex flags",
        Rule::k_extends => "`extends`",
        Rule::k_alias => "`alias`",
        Rule::k_field => "`field`",
        Rule::k_require => "`require`",
        Rule::k_optional => "`optional`",
        Rule::k_enum => "`enum`",
        Rule::k_input => "`input`",
        Rule::k_list => "`list`",
        Rule::k_table => "`table`",
        Rule::k_csv => "`csv`",
        Rule::k_map => "`map`",
        Rule::k_override => "`override`",
        Rule::k_insert => "`insert`",
        Rule::k_replace => "`replace`",
        Rule::k_remove => "`remove`",
        Rule::k_rule => "`rule`",
        Rule::k_has => "`has`",
        Rule::k_any => "`any`",
        Rule::k_matches => "`matches`",
        Rule::k_in => "`in`",
        Rule::k_starts => "`starts`",
        Rule::k_with => "`with`",
        Rule::k_ends => "`ends`",
        Rule::k_contains => "`contains`",
        Rule::k_is => "`is`",
        Rule::k_empty => "`empty`",
        Rule::k_present => "`present`",
        Rule::k_number => "`number`",
        Rule::k_test => "`test`",
        Rule::k_expect => "`expect`",
        Rule::k_examples => "`examples`",
        Rule::k_given => "`given`",
        Rule::k_reports_to => "`reports_to`",
        Rule::k_reports => "`reports`",
        Rule::reports_to_decl => "`reports_to INPUT -> INPUT, …`",
        Rule::reports_test => "`reports OP N`",
        Rule::bad_compare => "a comparison with a number",
        Rule::string_list => "a list like [\"a\", \"b\"]",
        Rule::extends_decl => "`extends \"file\"`",
        Rule::alias_decl => "an alias",
        Rule::field_decl => "a field declaration",
        Rule::required => "`required`",
        Rule::recommended => "`recommended`",
        Rule::require_decl => "`require FIELD`",
        Rule::optional_decl => "`optional FIELD`",
        Rule::field_type => "a field type (enum(…), text, flag or email)",
        Rule::enum_type => "`enum(…)`",
        Rule::enum_value => "an allowed value",
        Rule::simple_type => "`text`, `flag` or `email`",
        Rule::input_decl => "an input declaration",
        Rule::sources => "a list of attributes",
        Rule::source => "an attribute path, a \"column name\", @input or join(…)",
        Rule::join => "`join(\"separator\", part, part, …)`",
        Rule::join_part => "an attribute path, a \"column name\" or @input",
        Rule::k_join => "`join`",
        Rule::is_date => "`is before today`, `is on or after \"2026-01-31\"` …",
        Rule::date_op => "`before`, `after`, `on or before` or `on or after`",
        Rule::date_ref => "`today` or a date \"YYYY-MM-DD\"",
        Rule::k_on => "`on`",
        Rule::k_before => "`before`",
        Rule::k_after => "`after`",
        Rule::k_today => "`today`",
        Rule::input_ref => "`@input`",
        Rule::column => "a \"column name\"",
        Rule::path => "an attribute path",
        Rule::path_prefix => "a schema prefix (alias: or urn:…:)",
        Rule::segment => "an attribute name",
        Rule::attr_name => "an attribute name",
        Rule::value_filter => "a value filter like [type eq \"work\"]",
        Rule::filter_test => "a filter comparison",
        Rule::filter_pr => "`pr`",
        Rule::filter_op => "a filter operator (eq, ne, co, sw, ew, pr)",
        Rule::filter_value => "a filter value",
        Rule::bool_lit => "`true` or `false`",
        Rule::step => "a normalisation step `| step`",
        Rule::step_args => "step arguments (…)",
        Rule::step_arg => "a step argument",
        Rule::list_decl => "a word list",
        Rule::list_op => "`=` or `+=`",
        Rule::table_decl => "a table",
        Rule::table_inline => "a table body { \"key\" -> value … }",
        Rule::table_entry => "a table entry \"key\" -> value",
        Rule::table_csv => "`csv(\"file.csv\")`",
        Rule::csv_option => "`key = \"column\"` or `value = \"column\"`",
        Rule::csv_option_name => "`key` or `value`",
        Rule::out_value => "a value",
        Rule::map_decl => "`map FIELD { … }`",
        Rule::override_decl => "`override FIELD { … }`",
        Rule::insert_decl => "`insert before|after FIELD.RULE { … }`",
        Rule::position => "`before` or `after`",
        Rule::replace_decl => "`replace FIELD.RULE { … }`",
        Rule::remove_decl => "`remove FIELD.RULE`",
        Rule::rule_ref => "a rule reference FIELD.RULE",
        Rule::rule_block => "a rule block { … }",
        Rule::rule => "a rule `rule ID: CONDITION -> VALUE`",
        Rule::else_rule => "`else -> VALUE`",
        Rule::k_else => "`else`",
        Rule::output => "an output value, TABLE[input] or `unset`",
        Rule::k_unset => "`unset`",
        Rule::table_lookup => "a table lookup TABLE[input]",
        Rule::condition => "a condition",
        Rule::disjunction => "a condition",
        Rule::conjunction => "a condition",
        Rule::negation => "a condition",
        Rule::k_or => "`or`",
        Rule::k_and => "`and`",
        Rule::k_not => "`not`",
        Rule::number_test => "`number(input, /regex/) OP N`",
        Rule::compare_op => "a comparison (<, <=, >, >=, ==, !=)",
        Rule::predicate => "a test on an input",
        Rule::word_list => "a word list [\"…\"] or a list name",
        Rule::has_any => "`has any LIST`",
        Rule::has_word => "`has \"word\"`",
        Rule::matches => "`matches /regex/`",
        Rule::equals => "`== \"text\"`",
        Rule::not_equals => "`!= \"text\"`",
        Rule::in_table => "`in table NAME`",
        Rule::in_list => "`in LIST`",
        Rule::starts_with => "`starts with …`",
        Rule::ends_with => "`ends with …`",
        Rule::contains => "`contains …`",
        Rule::literal_set => "a string or `any LIST`",
        Rule::is_empty => "`is empty`",
        Rule::is_present => "`is present`",
        Rule::test_decl => "a test",
        Rule::given => "an input value `attribute = \"value\"`",
        Rule::given_name => "an attribute name",
        Rule::expect => "`expect FIELD = VALUE`, `expect complete` or `expect missing FIELD`",
        Rule::row_status => "`complete` or `missing FIELD, …`",
        Rule::k_complete => "`complete`",
        Rule::k_missing => "`missing`",
        Rule::examples_decl => "`examples FIELD given ATTR { … }`",
        Rule::example => "an example \"raw\" -> VALUE",
    }
}

/// Keyword tokens carry no meaning of their own once parsed; lowering skips them.
pub fn is_keyword(grammar_rule: Rule) -> bool {
    matches!(
        grammar_rule,
        Rule::k_extends
            | Rule::k_alias
            | Rule::k_field
            | Rule::k_join
            | Rule::k_require
            | Rule::k_optional
            | Rule::k_enum
            | Rule::k_input
            | Rule::k_list
            | Rule::k_table
            | Rule::k_csv
            | Rule::k_map
            | Rule::k_override
            | Rule::k_insert
            | Rule::k_replace
            | Rule::k_remove
            | Rule::k_rule
            | Rule::k_has
            | Rule::k_any
            | Rule::k_matches
            | Rule::k_in
            | Rule::k_starts
            | Rule::k_with
            | Rule::k_ends
            | Rule::k_contains
            | Rule::k_is
            | Rule::k_empty
            | Rule::k_present
            | Rule::k_number
            | Rule::k_test
            | Rule::k_expect
            | Rule::k_missing
            | Rule::k_examples
            | Rule::k_given
            | Rule::k_or
            | Rule::k_and
            | Rule::k_not
            | Rule::p_arrow
            | Rule::p_colon
            | Rule::p_assign
            | Rule::p_open_brace
            | Rule::p_close_brace
            | Rule::p_open_paren
            | Rule::p_close_paren
            | Rule::p_comma
            | Rule::p_open_bracket
            | Rule::p_close_bracket
    )
}
