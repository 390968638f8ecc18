//! The one clock every write uses: a fixed instant, so the same inputs give the same bytes.

/// Seconds since the Unix epoch stamped on everything piimage writes (`SOURCE_DATE_EPOCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Epoch(pub i64);

impl Epoch {
    /// Parses a `SOURCE_DATE_EPOCH` value: a whole number of seconds, not negative.
    pub fn parse(text: &str) -> Option<Epoch> {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .map(Epoch)
    }

    /// The civil date and time (UTC) of this instant: (year, month, day, hour, min, sec).
    pub fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        // Days-from-civil inverse (Howard Hinnant's algorithm); no time-zone crate needed for UTC.
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day, secs / 3600, (secs / 60) % 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_of_known_instants() {
        assert_eq!(Epoch(0).civil(), (1970, 1, 1, 0, 0, 0));
        assert_eq!(Epoch(1_700_000_000).civil(), (2023, 11, 14, 22, 13, 20));
        assert_eq!(Epoch(951_782_400).civil(), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Epoch::parse(" 42\n"), Some(Epoch(42)));
        assert_eq!(Epoch::parse("-1"), None);
        assert_eq!(Epoch::parse("yesterday"), None);
    }
}
