//! The syntax tree as S-expressions, one item per line, so precedence and structure show in
//! snapshot reviews: `(rule vp (or (has title ["vp"]) (has title ["vice president"])) VP)`.

use super::ast::*;

pub fn file(tree: &RuleFile) -> String {
    let mut out = String::new();
    for item in &tree.items {
        out.push_str(&self::item(item));
        out.push('\n');
    }
    out
}

fn q(text: &str) -> String {
    format!("{text:?}")
}

fn list(words: &[Str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| q(&w.value)).collect();
    format!("[{}]", quoted.join(" "))
}

fn word_list(words: &WordList) -> String {
    match words {
        WordList::Inline(words) => list(words),
        WordList::Named(name) => name.name.clone(),
    }
}

fn source(expr: &SourceExpr) -> String {
    match expr {
        SourceExpr::Input(name) => format!("@{}", name.name),
        SourceExpr::Column(column) => q(&column.value),
        SourceExpr::Join { separator, parts } => {
            let parts: Vec<String> = parts.iter().map(source).collect();
            format!("(join {} {})", q(&separator.value), parts.join(" "))
        }
        SourceExpr::Path(path) => {
            let segments: Vec<String> = path
                .segments
                .iter()
                .map(|s| {
                    if s.filter.is_empty() {
                        s.name.clone()
                    } else {
                        let tests: Vec<String> = s
                            .filter
                            .iter()
                            .map(|t| {
                                format!(
                                    "({} {} {})",
                                    t.op,
                                    t.attribute,
                                    t.value.as_deref().map(q).unwrap_or_default()
                                )
                                .replace(" )", ")")
                            })
                            .collect();
                        format!("{}[{}]", s.name, tests.join(" "))
                    }
                })
                .collect();
            match &path.prefix {
                Some(prefix) => format!("(path {prefix} {})", segments.join(" ")),
                None => format!("(path {})", segments.join(" ")),
            }
        }
    }
}

fn value(text: &Str, quoted: bool) -> String {
    if quoted {
        q(&text.value)
    } else {
        text.value.clone()
    }
}

fn output(output: &Output) -> String {
    match output {
        Output::Unset(_) => "unset".into(),
        Output::Value { text, quoted } => value(text, *quoted),
        Output::Lookup { table, key } => format!("(lookup {} {})", table.name, key.name),
    }
}

fn expected(expected: &Expected) -> String {
    match expected {
        Expected::Unset(_) => "unset".into(),
        Expected::Value(v) => q(&v.value),
    }
}

pub fn cond(cond: &Cond) -> String {
    match cond {
        Cond::Else(_) => "else".into(),
        Cond::Or(parts) => format!(
            "(or {})",
            parts.iter().map(self::cond).collect::<Vec<_>>().join(" ")
        ),
        Cond::And(parts) => format!(
            "(and {})",
            parts.iter().map(self::cond).collect::<Vec<_>>().join(" ")
        ),
        Cond::Not(inner, _) => format!("(not {})", self::cond(inner)),
        Cond::Number {
            subject,
            regex,
            op,
            value,
            ..
        } => {
            format!(
                "({} (number {} /{}/{}) {value})",
                op.symbol(),
                subject.name,
                regex.pattern,
                regex.flags
            )
        }
        Cond::Reports { op, value, .. } => format!("({} reports {value})", op.symbol()),
        Cond::Test(p) => {
            let s = &p.subject.name;
            match &p.test {
                Test::HasAny(words) => format!("(has {s} {})", word_list(words)),
                Test::Matches(r) => format!("(matches {s} /{}/{})", r.pattern, r.flags),
                Test::Equals(v) => format!("(== {s} {})", q(&v.value)),
                Test::NotEquals(v) => format!("(!= {s} {})", q(&v.value)),
                Test::InTable(t) => format!("(in-table {s} {})", t.name),
                Test::InList(words) => format!("(in {s} {})", word_list(words)),
                Test::StartsWith(words) => format!("(starts-with {s} {})", word_list(words)),
                Test::EndsWith(words) => format!("(ends-with {s} {})", word_list(words)),
                Test::Contains(words) => format!("(contains {s} {})", word_list(words)),
                Test::Date { op, against } => format!(
                    "(date {s} {} {})",
                    op.words().replace(' ', "-"),
                    against
                        .as_ref()
                        .map_or_else(|| "today".to_string(), |d| q(&d.value))
                ),
                Test::IsEmpty => format!("(empty {s})"),
                Test::IsPresent => format!("(present {s})"),
            }
        }
    }
}

fn rules(rules: &[RuleDef]) -> String {
    rules
        .iter()
        .map(|r| {
            format!(
                "\n  (rule {} {} {})",
                r.id.name,
                cond(&r.condition),
                output(&r.output)
            )
        })
        .collect()
}

fn item(item: &Item) -> String {
    match item {
        Item::Extends(path) => format!("(extends {})", q(&path.value)),
        Item::Alias { name, urn } => format!("(alias {} {})", name.name, q(&urn.value)),
        Item::Field(field) => {
            let ty = match &field.ty {
                FieldType::Enum(values) => {
                    format!("(enum {})", list(values).trim_matches(['[', ']']))
                }
                FieldType::Text => "text".into(),
                FieldType::Flag => "flag".into(),
                FieldType::Email => "email".into(),
            };
            format!(
                "(field {} {ty}{})",
                field.name.name,
                if field.required {
                    " required"
                } else if field.recommended {
                    " recommended"
                } else {
                    ""
                }
            )
        }
        Item::Requirement { field, required } => format!(
            "({} {})",
            if *required { "require" } else { "optional" },
            field.name
        ),
        Item::Input(input) => {
            let sources: Vec<String> = input.sources.iter().map(source).collect();
            let steps: Vec<String> = input
                .steps
                .iter()
                .map(|step| {
                    if step.args.is_empty() {
                        step.name.name.clone()
                    } else {
                        let args: Vec<String> = step
                            .args
                            .iter()
                            .map(|a| match a {
                                StepArg::Regex(r) => format!("/{}/{}", r.pattern, r.flags),
                                StepArg::Str(s) => q(&s.value),
                                StepArg::Number(n) => n.value.clone(),
                                StepArg::Ident(i) => i.name.clone(),
                            })
                            .collect();
                        format!("({} {})", step.name.name, args.join(" "))
                    }
                })
                .collect();
            format!(
                "(input {} (sources {}) (steps {}))",
                input.name.name,
                sources.join(" "),
                steps.join(" ")
            )
        }
        Item::List(l) => format!(
            "(list {} {} {})",
            l.name.name,
            if l.extends { "+=" } else { "=" },
            list(&l.words)
        ),
        Item::Table(t) => match &t.source {
            TableSource::Inline(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|e| format!("({} {})", q(&e.key.value), q(&e.value.value)))
                    .collect();
                format!("(table {} {})", t.name.name, entries.join(" "))
            }
            TableSource::Csv { path, key, value } => format!(
                "(table {} (csv {}{}{}))",
                t.name.name,
                q(&path.value),
                key.as_ref()
                    .map(|k| format!(" key={}", q(&k.value)))
                    .unwrap_or_default(),
                value
                    .as_ref()
                    .map(|v| format!(" value={}", q(&v.value)))
                    .unwrap_or_default()
            ),
        },
        Item::Map {
            field,
            overrides,
            rules: list,
        } => {
            format!(
                "({} {}{})",
                if *overrides { "override" } else { "map" },
                field.name,
                rules(list)
            )
        }
        Item::Insert {
            after,
            target,
            rules: list,
        } => format!(
            "(insert {} {}.{}{})",
            if *after { "after" } else { "before" },
            target.field.name,
            target.rule.name,
            rules(list)
        ),
        Item::Replace {
            target,
            rules: list,
        } => format!(
            "(replace {}.{}{})",
            target.field.name,
            target.rule.name,
            rules(list)
        ),
        Item::Remove { target } => format!("(remove {}.{})", target.field.name, target.rule.name),
        Item::Test(t) => {
            let given: Vec<String> = t
                .given
                .iter()
                .map(|(g, v)| format!("\n  (given {} {})", source(&g.source), q(&v.value)))
                .collect();
            let expect: Vec<String> = t
                .expect
                .iter()
                .map(|(f, e)| format!("\n  (expect {} {})", f.name, expected(e)))
                .collect();
            let rows: Vec<String> = t
                .rows
                .iter()
                .map(|(row, _)| match row {
                    ExpectedRow::Complete => "\n  (expect-row complete)".to_string(),
                    ExpectedRow::Missing(fields) => format!(
                        "\n  (expect-row missing {})",
                        fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                })
                .collect();
            format!(
                "(test {}{}{}{})",
                q(&t.name.value),
                given.concat(),
                expect.concat(),
                rows.concat()
            )
        }
        Item::ReportsTo {
            manager, people, ..
        } => format!(
            "(reports_to {} {})",
            manager.name,
            people
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Item::Examples(e) => {
            let rows: Vec<String> = e
                .rows
                .iter()
                .map(|(raw, exp)| format!("\n  ({} {})", q(&raw.value), expected(exp)))
                .collect();
            format!(
                "(examples {} {}{})",
                e.field.name,
                source(&e.given.source),
                rows.concat()
            )
        }
    }
}
