//! `cron:`: a schedule cron accepts (each field in its range), a user, one command line.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::CronJob;
use crate::inventory::InventoryError;

use super::names::is_user_name;

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
) -> Result<Vec<CronJob>, InventoryError> {
    let cron = s.cron.clone().unwrap_or_default();
    let cron_own = c.in_node(name, "cron");
    for (i, job) in cron.iter().enumerate() {
        let cron_err = |message: String| {
            c.err(
                place_of(c, name, cron_own, &["cron"]),
                Some(name),
                format!("cron[{i}]: {message}"),
            )
        };
        if !is_cron_schedule(&job.schedule) {
            return Err(cron_err(format!("`{}` is not a schedule (five fields, or @reboot/@hourly/@daily/@weekly/@monthly/@yearly)", job.schedule)));
        }
        if !is_user_name(&job.user) {
            return Err(cron_err(format!("`{}` is not a user name", job.user)));
        }
        if job.command.trim().is_empty() || job.command.contains('\n') {
            return Err(cron_err("the command must be one non-empty line".into()));
        }
    }
    Ok(cron)
}

/// A schedule as cron(8) reads it: a `@` word, or five fields (minute 0-59, hour 0-23, day
/// of month 1-31, month 1-12 or jan-dec, day of week 0-7 or sun-sat), each a comma list of
/// `*`, a number or a range, optionally `/step`.
fn is_cron_schedule(schedule: &str) -> bool {
    if let Some(word) = schedule.strip_prefix('@') {
        return [
            "reboot", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "midnight",
        ]
        .contains(&word);
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    let limits: [(u32, u32, &[&str]); 5] = [
        (0, 59, &[]),
        (0, 23, &[]),
        (1, 31, &[]),
        (1, 12, &MONTHS),
        (0, 7, &DAYS),
    ];
    fields.len() == 5
        && fields
            .iter()
            .zip(limits)
            .all(|(field, (lo, hi, names))| is_cron_field(field, lo, hi, names))
}

fn is_cron_field(field: &str, lo: u32, hi: u32, names: &[&str]) -> bool {
    let value = |text: &str| -> Option<u32> {
        if let Ok(n) = text.parse::<u32>() {
            return (lo..=hi).contains(&n).then_some(n);
        }
        // Names count from the field's lowest value (jan = 1, sun = 0).
        let lower = text.to_ascii_lowercase();
        names
            .iter()
            .position(|n| *n == lower)
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i + lo)
    };
    field.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step_ok = step.is_none_or(|s| s.parse::<u32>().is_ok_and(|n| n >= 1 && n <= hi));
        let range_ok = match range.split_once('-') {
            _ if range == "*" => true,
            Some((a, b)) => matches!((value(a), value(b)), (Some(a), Some(b)) if a <= b),
            None => value(range).is_some() && step.is_none(),
        };
        !item.is_empty() && step_ok && range_ok
    })
}

#[cfg(test)]
mod tests {
    use super::is_cron_schedule;

    #[test]
    fn schedules_are_read_as_cron_reads_them() {
        for good in [
            "* * * * *",
            "*/5 * * * *",
            "0 3 * * 1-5",
            "30 2 1,15 jan-jun sun",
            "0 0 * * 7",
            "0-30/10 8-18 * * mon-fri",
            "@reboot",
        ] {
            assert!(is_cron_schedule(good), "{good}");
        }
        for bad in [
            "61 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "5-1 * * * *",
            "*/0 * * * *",
            "* * * *",
            "1/2 * * * *",
            "@sometimes",
            "a * * * *",
        ] {
            assert!(!is_cron_schedule(bad), "{bad}");
        }
    }
}
