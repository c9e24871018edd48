//! Date tests (`term is before today`): a value the `date` step spelled `YYYY-MM-DD`,
//! compared with a date or the run's day.

use chrono::NaiveDate;

use super::profile::FieldNote;
use crate::program::steps::{parse_date, ISO_DATE};

/// A date test: whether `value` (a date as the `date` step spells it) stands so to
/// `against` or the run's date, and (with `explain`) why. A value that is not a date leaves
/// `bad_value` set.
/// Out of line: few fields test dates, and `leaf` stays small for those that do not.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn date_test(
    value: &str,
    op: crate::value::DateOp,
    against: Option<NaiveDate>,
    format: &str,
    today: &mut Option<NaiveDate>,
    bad_value: &mut Option<FieldNote>,
    explain: bool,
) -> (bool, Option<String>) {
    let against = against.unwrap_or_else(|| *today.get_or_insert_with(local_today));
    if value.is_empty() {
        return (false, explain.then(|| "no date".to_string()));
    }
    match parse_date(value, Some(ISO_DATE)) {
        Some(date) => (
            op.holds(date, against),
            explain.then(|| format!("{date} {} {against}", op.words())),
        ),
        None => {
            let note = FieldNote::BadDate {
                value: value.to_string(),
                format: format.to_string(),
            };
            let why = explain.then(|| note.describe());
            *bad_value = Some(note);
            (false, why)
        }
    }
}

/// The local date, for a run given none.
fn local_today() -> NaiveDate {
    chrono::Local::now().date_naive()
}
