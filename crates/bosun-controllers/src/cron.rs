//! Cron schedules as CronJobs use them: five fields (minute, hour, day of month, month, day of
//! week) with lists, ranges, steps and names, the `@hourly`-style macros, evaluated in a time
//! zone. When both day fields are restricted, a day matching either runs (as cron does).

use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Timestamp, ToSpan, Zoned};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    any_day: bool,
    any_weekday: bool,
}

/// Why a schedule does not parse (the message Kubernetes would give in spirit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unparseable schedule {schedule:?}: {why}")]
pub struct CronError {
    pub schedule: String,
    pub why: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + offset)
}

/// The set of values a field allows, as a bit mask, and whether it was `*`.
fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_offset: u32,
) -> Result<(u64, bool), String> {
    let mut mask = 0u64;
    let star = text == "*" || text == "?";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step of zero in {part:?}"));
        }
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = value(a, names, name_offset).ok_or_else(|| format!("bad value {a:?}"))?;
            let b = value(b, names, name_offset).ok_or_else(|| format!("bad value {b:?}"))?;
            (a, b)
        } else {
            let v =
                value(range, names, name_offset).ok_or_else(|| format!("bad value {range:?}"))?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            mask |= 1 << v;
            v += step;
        }
    }
    Ok((mask, star))
}

impl Schedule {
    pub fn parse(schedule: &str) -> Result<Self, CronError> {
        let err = |why: String| CronError {
            schedule: schedule.to_string(),
            why,
        };
        let text = schedule.trim();
        if text.starts_with("TZ=") || text.starts_with("CRON_TZ=") {
            return Err(err(
                "time zones are set with spec.timeZone, not in the schedule".into(),
            ));
        }
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "expected exactly 5 fields, found {}",
                fields.len()
            )));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[], 0).map_err(err)?;
        let (hours, _) = field(fields[1], 0, 23, &[], 0).map_err(err)?;
        let (days, any_day) = field(fields[2], 1, 31, &[], 0).map_err(err)?;
        let (months, _) = field(fields[3], 1, 12, &MONTHS, 1).map_err(err)?;
        // Sunday may be written 7.
        let (mut weekdays, any_weekday) = field(fields[4], 0, 7, &DAYS, 0).map_err(err)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(Self {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            any_day,
            any_weekday,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// The first scheduled time strictly after `after`, in `tz` (within five years).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start: Zoned = after.to_zoned(tz.clone());
        let mut date = start.date();
        for _ in 0..(366 * 5) {
            if self.day_matches(date) {
                for h in 0..24i8 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    for m in 0..60i8 {
                        if self.minutes & (1 << m) == 0 {
                            continue;
                        }
                        let Ok(at) = date.at(h, m, 0, 0).to_zoned(tz.clone()) else {
                            continue;
                        };
                        // In a DST gap the civil time does not exist; jiff moves it forward.
                        if at.timestamp() > after {
                            return Some(at.timestamp());
                        }
                    }
                }
            }
            date = date.checked_add(1.day()).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn fields_parse_lists_ranges_steps_and_names() {
        let s = Schedule::parse("*/15 9-17 * JAN,mar MON-FRI").expect("parse");
        let utc = TimeZone::UTC;
        // 2026-03-02 is a Monday.
        assert_eq!(
            s.next_after(ts("2026-03-02T08:59:00Z"), &utc),
            Some(ts("2026-03-02T09:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-03-02T09:00:00Z"), &utc),
            Some(ts("2026-03-02T09:15:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-03-02T17:45:00Z"), &utc),
            Some(ts("2026-03-03T09:00:00Z"))
        );
        // April is not allowed: next is January next year... the first Monday-Friday.
        assert_eq!(
            s.next_after(ts("2026-03-31T17:45:00Z"), &utc),
            Some(ts("2027-01-01T09:00:00Z"))
        );
    }

    #[test]
    fn macros_and_day_fields_behave_like_cron() {
        let utc = TimeZone::UTC;
        let hourly = Schedule::parse("@hourly").expect("macro");
        assert_eq!(
            hourly.next_after(ts("2026-01-01T10:30:00Z"), &utc),
            Some(ts("2026-01-01T11:00:00Z"))
        );
        // Day 13 OR a Friday.
        let either = Schedule::parse("0 0 13 * 5").expect("parse");
        assert_eq!(
            either.next_after(ts("2026-02-01T00:00:00Z"), &utc),
            Some(ts("2026-02-06T00:00:00Z"))
        );
        assert_eq!(
            either.next_after(ts("2026-02-10T00:00:00Z"), &utc),
            Some(ts("2026-02-13T00:00:00Z"))
        );
        let sunday = Schedule::parse("0 12 * * 7").expect("7 is Sunday");
        assert_eq!(
            sunday.next_after(ts("2026-03-02T00:00:00Z"), &utc),
            Some(ts("2026-03-08T12:00:00Z"))
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "*/0 * * * *",
            "TZ=UTC * * * * *",
            "* * * FOO *",
            "5-1 * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn time_zones_and_daylight_saving_are_honoured() {
        let Ok(ny) = TimeZone::get("America/New_York") else {
            panic!("the system time zone database is missing (tzdata)");
        };
        let daily = Schedule::parse("30 2 * * *").expect("parse");
        // 2026-03-08: 02:30 does not exist in New York; the run moves forward into 03:30 EDT.
        let next = daily
            .next_after(ts("2026-03-07T12:00:00Z"), &ny)
            .expect("next");
        assert_eq!(next, ts("2026-03-08T07:30:00Z"));
        let day_after = daily.next_after(next, &ny).expect("next");
        assert_eq!(day_after, ts("2026-03-09T06:30:00Z"));
    }
}
