//! The units of `coffer bench`'s arguments and figures: sizes such as `4KiB`
//! or `1.5GiB`, durations such as `15s` or `1m30s`, parsed from the command
//! line and printed back for people.

use std::time::Duration;

/// Parses a byte count: a number with an optional unit, binary (`KiB`, `MiB`,
/// `GiB`, `TiB`, or `K`, `M`, `G`, `T` as `dd` reads them) or decimal (`KB`,
/// `MB`, `GB`, `TB`); `B` or no unit means bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit {unit:?} in {text:?} (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    scale(number, multiplier).ok_or_else(|| format!("{text:?} is not a size, like 4KiB or 64MiB"))
}

/// Parses a duration: one or more numbers each with a unit (`ms`, `s`, `m`,
/// `h`), as in `15s`, `2m` or `1m30s`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration, like 15s, 2m or 1m30s");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let unit_end = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let multiplier = match unit.trim() {
            "ms" => 1,
            "" | "s" | "sec" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => return Err(invalid()),
        };
        let part = scale(number, multiplier).ok_or_else(invalid)?;
        millis = millis.checked_add(part).ok_or_else(invalid)?;
        rest = after;
    }
    Ok(Duration::from_millis(millis))
}

/// `number * multiplier`, exact for integers, rounded for decimals.
fn scale(number: &str, multiplier: u64) -> Option<u64> {
    if number.contains('.') {
        let value: f64 = number.parse().ok()?;
        let scaled = (value * multiplier as f64).round();
        (scaled.is_finite() && scaled < u64::MAX as f64).then_some(scaled as u64)
    } else {
        number.parse::<u64>().ok()?.checked_mul(multiplier)
    }
}

/// A byte count in the largest binary unit that keeps it at least 1.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1 << 10 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    if value.fract() == 0.0 {
        format!("{value} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// A latency in microseconds, with three significant figures as the
/// histogram keeps them.
pub fn format_micros(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros}µs"),
        1_000..1_000_000 => format!("{:.3}ms", micros as f64 / 1e3),
        _ => format!("{:.3}s", micros as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("17B"), Ok(17));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4 KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_size("4KB"), Ok(4_000));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
    }

    #[test]
    fn bad_sizes() {
        for text in ["", "KiB", "4 XiB", "-1", "1.2.3MiB", "99999999999TiB"] {
            assert!(parse_size(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn bad_durations() {
        for text in ["", "s", "15x", "1d", "m5", "-3s"] {
            assert!(parse_duration(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn printing() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(3 << 19), "1.50 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_micros(812), "812µs");
        assert_eq!(format_micros(1_234), "1.234ms");
        assert_eq!(format_micros(2_500_000), "2.500s");
    }
}
