//! Tests of raw text that every stage shares: blank values and email addresses.

/// Blank: empty or only whitespace (an ASCII check first: nearly every value is ASCII).
pub fn is_blank(value: &str) -> bool {
    ascii_blank(value.as_bytes()).unwrap_or_else(|| value.trim().is_empty())
}

/// [`is_blank`] of text given as bytes (valid UTF-8).
pub fn is_blank_bytes(value: &[u8]) -> bool {
    ascii_blank(value)
        .unwrap_or_else(|| std::str::from_utf8(value).is_ok_and(|text| text.trim().is_empty()))
}

/// Whether the value is blank, told from its first byte that is not ASCII whitespace; `None`
/// when that byte is not ASCII (then only a Unicode check can tell).
fn ascii_blank(value: &[u8]) -> Option<bool> {
    match value.iter().find(|b| !matches!(b, b' ' | b'\t'..=b'\r')) {
        None => Some(true),
        Some(b) if b.is_ascii() => Some(false),
        Some(_) => None,
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
///
/// One pass over the bytes: every row of a dry run checks its manager's address (unique
/// values, so the field's cache switches itself off), and a search per rule cost 500
/// instructions an address. Only a value with non-ASCII characters is read again, for
/// Unicode spaces and controls.
pub fn is_email(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut at = None;
    let mut dotted = false;
    let mut ascii = true;
    let mut previous = 0u8;
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'@' if at.is_some() => return false,
            b'@' => at = Some(index),
            // A dot in the domain: not its first character, not after another dot.
            b'.' if at.is_some() => {
                if matches!(previous, b'.' | b'@') {
                    return false;
                }
                dotted = true;
            }
            0..=b' ' | 0x7f | b',' | b';' | b'<' | b'>' | b'"' => return false,
            0x80.. => ascii = false,
            _ => {}
        }
        previous = byte;
    }
    at.is_some_and(|at| at > 0)
        && dotted
        && previous != b'.'
        && (ascii || !value.chars().any(|c| c.is_whitespace() || c.is_control()))
}

#[cfg(test)]
mod tests {
    /// The byte-wise check says what the plain `str` one said, on edge cases of each rule.
    #[test]
    fn is_email_agrees_with_its_plain_definition() {
        fn plain(value: &str) -> bool {
            let Some((local, domain)) = value.split_once('@') else {
                return false;
            };
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && !value.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>' | '"')
                })
        }
        let cases = [
            "a@b.co",
            "ana.lopez@acme.com",
            "",
            "@",
            "@b.co",
            "a@",
            "a@b",
            "a@.b.co",
            "a@b.co.",
            "a@b..co",
            "a@@b.co",
            "a@b@c.co",
            "a b@c.co",
            "a@b.c o",
            "a\t@b.co",
            "a\u{7f}@b.co",
            "a,b@c.co",
            "a;b@c.co",
            "<a@b.co>",
            "\"a\"@b.co",
            "josé@acme.es",
            "ユーザー@例え.jp",
            "a\u{a0}@b.co",
            "a\u{3000}@b.co",
            "a@b.co\u{2028}",
            "a\u{85}@b.co",
            "a@b.c\u{301}o",
            "a@b.co\r\n",
            "..@b.co",
            "a.@b.co",
            "a@b.co.uk",
            "a@b-c.co",
            "a.b@c.co",
            "a..b@c.co",
            "a@b.",
            "a@.",
            "a@b.c.",
            "a@b.c..",
            ".a@b.co",
            "a@b.co@",
            "é@b.co",
            "a@b.\u{2003}co",
            "a@b.co\u{85}",
        ];
        for case in cases {
            assert_eq!(super::is_email(case), plain(case), "{case:?}");
        }
    }

    /// Blank bytes and blank text agree, Unicode spaces included.
    #[test]
    fn blank_bytes_read_as_blank_text() {
        for value in [
            "",
            " ",
            "\t\r\n",
            "\u{3000}",
            " \u{a0} ",
            "x",
            " x ",
            "ア",
            "\u{3000}ア",
        ] {
            assert_eq!(
                super::is_blank_bytes(value.as_bytes()),
                super::is_blank(value),
                "{value:?}"
            );
        }
    }
}
