//! Go duration strings as the KubeVirt CR carries them (`metav1.Duration`): parsing (`168h`,
//! `24h0m0s`, `1h30m`, `1.5h`, `-90s`) and formatting the way Go prints them (used for the
//! `kubevirt.io/duration` annotation, e.g. `168h0m0s`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use time::Duration;

/// Why a Go duration string was rejected; the text mirrors Go's `time.ParseDuration`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Not a duration at all, or out of range (more than about 292 years).
    #[error("time: invalid duration \"{0}\"")]
    Invalid(String),
    /// A number without a unit, e.g. `10`.
    #[error("time: missing unit in duration \"{0}\"")]
    MissingUnit(String),
    /// A unit Go does not know, e.g. `3d`.
    #[error("time: unknown unit \"{unit}\" in duration \"{input}\"")]
    UnknownUnit {
        /// The unknown unit.
        unit: String,
        /// The whole input.
        input: String,
    },
}

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SEC: u128 = 1_000_000_000;

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => NANOS_PER_MICRO,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses a Go duration string (`[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Magnitude limit: i64 nanoseconds, one more for the most negative value.
    let limit: u128 = if negative {
        1u128 << 63
    } else {
        (1u128 << 63) - 1
    };
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(tail) => {
                let n = tail.bytes().take_while(u8::is_ascii_digit).count();
                tail.split_at(n)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_num
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, tail) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let per_unit = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_string(),
            input: input.to_string(),
        })?;
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d - b'0')))
                .filter(|&w| w <= limit)
                .ok_or_else(invalid)?;
        }
        let mut value = whole.checked_mul(per_unit).ok_or_else(invalid)?;
        // Fraction: keep at most 18 digits, more cannot change a nanosecond count.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_part.bytes().take(18) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        value += frac * per_unit / scale;
        total = total
            .checked_add(value)
            .filter(|&t| t <= limit)
            .ok_or_else(invalid)?;
        rest = tail;
    }
    let nanos = i128::try_from(total).map_err(|_| invalid())?;
    let signed = if negative { -nanos } else { nanos };
    i64::try_from(signed)
        .map(Duration::nanoseconds)
        .map_err(|_| invalid())
}

/// Formats a duration as Go's `time.Duration.String()` does: `168h0m0s`, `4h48m0s`, `1.5s`,
/// `250ms`, `0s`. Durations beyond Go's range are clamped to it.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d
        .whole_nanoseconds()
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    let negative = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if u == 0 {
        return "0s".to_string();
    }
    if u < NANOS_PER_SEC {
        let (unit, per) = if u < NANOS_PER_MICRO {
            ("ns", 1)
        } else if u < NANOS_PER_MILLI {
            ("\u{b5}s", NANOS_PER_MICRO)
        } else {
            ("ms", NANOS_PER_MILLI)
        };
        return format!("{sign}{}{unit}", with_fraction(u / per, u % per, per));
    }
    let secs_frac = u % NANOS_PER_SEC;
    u /= NANOS_PER_SEC;
    let seconds = with_fraction(u % 60, secs_frac, NANOS_PER_SEC);
    u /= 60;
    if u == 0 {
        return format!("{sign}{seconds}s");
    }
    let minutes = u % 60;
    let hours = u / 60;
    if hours == 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    }
}

/// `whole` followed by `.frac` (of `per` units) with trailing zeros removed.
fn with_fraction(whole: u128, frac: u128, per: u128) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let digits = per.ilog10() as usize;
    let text = format!("{frac:0digits$}");
    format!("{whole}.{}", text.trim_end_matches('0'))
}

/// A `metav1.Duration`: serialises as a Go duration string, deserialises by parsing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Builds from whole hours.
    pub fn hours(h: i64) -> Self {
        GoDuration(Duration::hours(h))
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        GoDuration(d)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

impl std::str::FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s).map(GoDuration)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_go_duration(&text)
            .map(GoDuration)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Duration {
        parse_go_duration(s).unwrap()
    }

    #[test]
    fn parses_kubevirt_style_values() {
        assert_eq!(p("168h"), Duration::hours(168));
        assert_eq!(p("24h0m0s"), Duration::hours(24));
        assert_eq!(p("1h30m"), Duration::minutes(90));
        assert_eq!(p("33h36m"), Duration::minutes(33 * 60 + 36));
        assert_eq!(p("1.5h"), Duration::minutes(90));
        assert_eq!(p(".5s"), Duration::milliseconds(500));
        assert_eq!(p("-90s"), Duration::seconds(-90));
        assert_eq!(p("+5m"), Duration::minutes(5));
        assert_eq!(p("0"), Duration::ZERO);
        assert_eq!(p("1us"), Duration::microseconds(1));
        assert_eq!(p("1\u{b5}s"), Duration::microseconds(1));
        assert_eq!(p("1\u{3bc}s"), Duration::microseconds(1));
        assert_eq!(p("2ms3ns"), Duration::nanoseconds(2_000_003));
        assert_eq!(
            p("2562047h47m16.854775807s"),
            Duration::nanoseconds(i64::MAX)
        );
        assert_eq!(
            p("-2562047h47m16.854775808s"),
            Duration::nanoseconds(i64::MIN)
        );
    }

    #[test]
    fn rejects_like_go() {
        let e = |s: &str| parse_go_duration(s).unwrap_err().to_string();
        assert_eq!(e(""), "time: invalid duration \"\"");
        assert_eq!(e("h"), "time: invalid duration \"h\"");
        assert_eq!(e("."), "time: invalid duration \".\"");
        assert_eq!(e("-"), "time: invalid duration \"-\"");
        assert_eq!(e("10"), "time: missing unit in duration \"10\"");
        assert_eq!(e("1h5"), "time: missing unit in duration \"1h5\"");
        assert_eq!(e("3d"), "time: unknown unit \"d\" in duration \"3d\"");
        assert_eq!(
            e("1h 2m"),
            "time: unknown unit \"h \" in duration \"1h 2m\""
        );
        assert_eq!(
            e("2562047h47m16.854775808s"),
            "time: invalid duration \"2562047h47m16.854775808s\""
        );
        assert_eq!(
            e("99999999999999999999h"),
            "time: invalid duration \"99999999999999999999h\""
        );
    }

    #[test]
    fn formats_like_go() {
        let f = format_go_duration;
        assert_eq!(f(Duration::hours(168)), "168h0m0s");
        assert_eq!(f(Duration::hours(24)), "24h0m0s");
        assert_eq!(f(Duration::minutes(33 * 60 + 36)), "33h36m0s");
        assert_eq!(f(Duration::minutes(4 * 60 + 48)), "4h48m0s");
        assert_eq!(f(Duration::seconds(90)), "1m30s");
        assert_eq!(f(Duration::milliseconds(1500)), "1.5s");
        assert_eq!(f(Duration::milliseconds(250)), "250ms");
        assert_eq!(f(Duration::microseconds(3)), "3\u{b5}s");
        assert_eq!(f(Duration::nanoseconds(1500)), "1.5\u{b5}s");
        assert_eq!(f(Duration::nanoseconds(7)), "7ns");
        assert_eq!(f(Duration::ZERO), "0s");
        assert_eq!(f(Duration::seconds(-61)), "-1m1s");
        assert_eq!(
            f(Duration::nanoseconds(i64::MIN)),
            "-2562047h47m16.854775808s"
        );
    }

    #[test]
    fn format_then_parse_is_identity() {
        for d in [
            Duration::hours(168),
            Duration::nanoseconds(123_456_789_012),
            Duration::seconds(-3601),
            Duration::nanoseconds(1),
        ] {
            assert_eq!(p(&format_go_duration(d)), d);
        }
    }

    #[test]
    fn serde_round_trip() {
        let d: GoDuration = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(d, GoDuration(Duration::minutes(90)));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h30m0s\"");
        assert!(serde_json::from_str::<GoDuration>("\"3d\"").is_err());
    }
}
