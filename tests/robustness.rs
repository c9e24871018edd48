//! No rule file and no record can make Canon panic: mutated rule files, hostile nesting, huge
//! and odd values. (A deterministic stand-in for fuzzing that runs in every `cargo test`.)

use canon::{FlatRecord, JsonRecord, Program};

/// A small deterministic generator (no external crate needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "/",
    "\\",
    "->",
    ":",
    ",",
    "|",
    "@",
    "#",
    "\n",
    " ",
    "rule",
    "map",
    "else",
    "not",
    "and",
    "or",
    "has any",
    "in table",
    "number(",
    "urn:",
    "enterprise:",
    "ＣＥＯ",
    "사장",
    "\u{0}",
    "é",
    "==",
];

fn mutate(text: &str, rng: &mut Lcg) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if at < chars.len() => {
                let len = 1 + rng.below(8);
                chars.drain(at..(at + len).min(chars.len()));
            }
            _ => {
                let piece = PIECES[rng.below(PIECES.len())];
                for (offset, c) in piece.chars().enumerate() {
                    chars.insert((at + offset).min(chars.len()), c);
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_rule_files_never_panic() {
    let base = std::fs::read_to_string("tests/corpus/base.rules").unwrap();
    let mut rng = Lcg(7);
    let record = FlatRecord::from_pairs([
        ("title", "Sr. VP, Sales"),
        ("isManager", "Y"),
        ("managementLevel", "Director"),
    ]);
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..400 {
        let text = mutate(&base, &mut rng);
        match Program::from_source("tests/corpus/mutated.rules", &text) {
            Ok(program) => {
                loaded += 1;
                let _ = program.apply(&record);
                let _ = program.explain(&record).render();
            }
            Err(error) => {
                refused += 1;
                let rendered = error.render();
                assert!(
                    rendered.contains("error["),
                    "an error without a code:\n{rendered}"
                );
            }
        }
    }
    assert!(
        loaded > 0 && refused > 0,
        "loaded {loaded}, refused {refused}"
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "field f: text\ninput i = x\nmap f {{ rule r: {}i is empty{} -> i }}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let error = Program::from_source("deep.rules", &deep).expect_err("refused");
    assert!(error.render().contains("E0003"), "{}", error.render());
    let nots = format!(
        "field f: text\ninput i = x\nmap f {{ rule r: {}i is empty -> i }}\n",
        "not ".repeat(50_000)
    );
    assert!(Program::from_source("nots.rules", &nots)
        .expect_err("refused")
        .render()
        .contains("E0003"));
    let unclosed = "map f { rule r: ".repeat(10_000);
    assert!(Program::from_source("unclosed.rules", &unclosed).is_err());
}

#[test]
fn odd_records_never_panic() {
    let program = Program::load(std::path::Path::new("tests/corpus/base.rules")).unwrap();
    let huge = "vp ".repeat(300_000);
    let values = [
        "",
        " ",
        "\u{0}",
        "\u{feff}",
        "é\u{301}",
        "ＣＥＯ\u{3000}",
        "L999999999999999999999999",
        "l7",
        huge.as_str(),
        "🙂🙂",
        "@",
        "a@b",
    ];
    for value in values {
        let record = FlatRecord::from_pairs([
            ("title", value),
            ("isManager", value),
            ("managerEmail", value),
            ("locale", value),
            ("managementLevel", value),
        ]);
        let _ = program.apply(&record);
        let _ = program.explain(&record);
    }
    let json = [
        serde_json::json!({"title": 42, "name": "not an object", "emails": [1, null, {"value": true}]}),
        serde_json::json!({"title": ["a", {"value": "VP"}], "name": {"givenName": null}}),
        serde_json::json!([1, 2, 3]),
        serde_json::json!(null),
        serde_json::json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "flat string"}),
    ];
    for user in &json {
        let _ = program.apply(&JsonRecord::new(user));
    }
}
