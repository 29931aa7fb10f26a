//! How the bench table writes times, rates and dates.

/// What a rate counts.
pub(super) enum Rate {
    Bytes,
    Elements,
}

/// `per_second` with a unit that keeps three significant digits readable: GB/s (10^9
/// bytes), MB/s, or M/K elements per second.
pub(super) fn rate(per_second: f64, what: Rate) -> String {
    match what {
        Rate::Bytes if per_second >= 1e9 => format!("{:.2} GB/s", per_second / 1e9),
        Rate::Bytes => format!("{:.1} MB/s", per_second / 1e6),
        Rate::Elements if per_second >= 1e6 => format!("{:.2} M/s", per_second / 1e6),
        Rate::Elements if per_second >= 1e3 => format!("{:.1} K/s", per_second / 1e3),
        Rate::Elements => format!("{per_second:.2} /s"),
    }
}

pub(super) fn human_time(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of seconds since the Unix epoch (the civil-from-days
/// algorithm of Howard Hinnant's date library, so xtask needs no date crate).
pub(super) fn civil(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02} {h:02}:{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), "1970-01-01 00:00");
        // `date -u -d @1796422518`
        assert_eq!(civil(1_796_422_518), "2026-12-04 22:15");
        assert_eq!(civil(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn rates() {
        assert_eq!(rate(2.345e9, Rate::Bytes), "2.35 GB/s");
        assert_eq!(rate(120.0, Rate::Elements), "120.00 /s");
    }
}
