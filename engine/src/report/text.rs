//! Text helpers shared by the renderers: HTML and XML escaping, and human-friendly numbers,
//! durations and timestamps. Nothing here panics, whatever the input (NaN, infinities, huge
//! values, control characters).

use std::fmt::Write as _;
use std::time::Duration;

/// Escapes text for HTML element content and quoted attribute values.
///
/// `& < > " '` become character references; C0 control characters other than tab, newline and
/// carriage return (which HTML treats as parse errors) become U+FFFD.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for XML 1.0 element content and attribute values.
///
/// `& < > " '` become entity references; tab, newline and carriage return become numeric
/// character references (so that they survive attribute-value normalization); every character
/// that XML 1.0 forbids (other C0 controls, U+FFFE, U+FFFF) becomes U+FFFD.
pub(crate) fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A duration in milliseconds as an `f64`, rounded to the microsecond.
pub(crate) fn duration_ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// A finite value, or zero.
pub(crate) fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Rounds to 3 decimals (microseconds when the unit is milliseconds); non-finite becomes 0.
pub(crate) fn round3(v: f64) -> f64 {
    let v = finite(v);
    let r = (v * 1000.0).round() / 1000.0;
    if r.is_finite() {
        r
    } else {
        v
    }
}

/// Milliseconds with adaptive precision: `1.23`, `12.3`, `123`, `12345`.
pub(crate) fn fmt_ms(ms: f64) -> String {
    let ms = finite(ms);
    let abs = ms.abs();
    if abs == 0.0 {
        "0".to_string()
    } else if abs < 10.0 {
        format!("{ms:.2}")
    } else if abs < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// [`fmt_ms`] of an optional value, or an en dash when absent.
pub(crate) fn fmt_opt_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_string(), fmt_ms)
}

/// A duration as a latency for people: `850 µs`, `12.3 ms`, `1.23 s`.
pub(crate) fn fmt_latency(d: Duration) -> String {
    let ms = duration_ms(d);
    if ms < 1.0 {
        format!("{} µs", d.as_micros())
    } else if ms < 1000.0 {
        format!("{} ms", fmt_ms(ms))
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// A rate (per second): `0.5`, `12.3`, `1234`.
pub(crate) fn fmt_rate(rate: f64) -> String {
    let rate = finite(rate);
    if rate == 0.0 {
        "0".to_string()
    } else if rate.abs() < 100.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.0}")
    }
}

/// A percentage with two decimals: `0.00%`, `12.35%`.
pub(crate) fn fmt_percent(percent: f64) -> String {
    format!("{:.2}%", finite(percent))
}

/// `part / whole` in percent, 0 when `whole` is 0.
pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A number for people: integers without decimals, others with up to 3 (`12`, `12.5`,
/// `0.123`); non-finite values as Rust writes them.
pub(crate) fn fmt_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// An integer with thin-space thousands separators (for HTML): `12 345 678`.
pub(crate) fn fmt_grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    let len = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (len - i) % 3 == 0 {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

/// Elapsed time in whole seconds, compact: `12s`, `1m05s`, `1h02m03s`.
pub(crate) fn fmt_elapsed(d: Duration) -> String {
    fmt_seconds(d.as_secs())
}

/// Whole seconds, compact: `12s`, `1m05s`, `1h02m03s`.
pub(crate) fn fmt_seconds(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A run's wall time: `850 ms`, `12.3 s`, `1m 05s`, `1h 02m 03s`.
pub(crate) fn fmt_run_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.1} s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// A Unix timestamp in milliseconds as UTC: `2024-05-01 12:00:00 UTC`.
pub(crate) fn fmt_timestamp(unix_ms: u64) -> String {
    let (date, time) = civil_utc(unix_ms);
    format!("{date} {time} UTC")
}

/// A Unix timestamp in milliseconds as RFC 3339 UTC with millisecond precision:
/// `2024-05-01T12:00:00.000Z`.
pub(crate) fn fmt_rfc3339(unix_ms: u64) -> String {
    let (date, time) = civil_utc(unix_ms);
    format!("{date}T{time}.{:03}Z", unix_ms % 1000)
}

/// (`YYYY-MM-DD`, `hh:mm:ss`) of a Unix timestamp in milliseconds, proleptic Gregorian, UTC.
fn civil_utc(unix_ms: u64) -> (String, String) {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut date = String::new();
    let _ = write!(date, "{y:04}-{m:02}-{d:02}");
    let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60);
    (date, time)
}

/// Year, month (1–12) and day (1–31) of a count of days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days end each 4/100/400-year cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1st
    let mp = (5 * doy + 2) / 153; // 0..=11, March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Keeps at most `max` characters of `text`, ending with `…` when it was cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html_specials_and_controls() {
        assert_eq!(
            escape_html("<script>alert('x&y')</script>\"\u{7}"),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;&quot;\u{FFFD}"
        );
    }

    #[test]
    fn escapes_xml_specials_and_forbidden_chars() {
        assert_eq!(
            escape_xml("a<b>&\"c'\n\u{0}\u{FFFF}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(12.34), "12.3");
        assert_eq!(fmt_ms(1234.4), "1234");
        assert_eq!(fmt_ms(f64::NAN), "0");
        assert_eq!(fmt_rate(1234.4), "1234");
        assert_eq!(fmt_rate(2.25), "2.2");
        assert_eq!(fmt_percent(12.345), "12.35%");
        assert_eq!(fmt_grouped(1_234_567), "1\u{202F}234\u{202F}567");
        assert_eq!(fmt_grouped(123), "123");
        assert_eq!(fmt_latency(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(fmt_latency(Duration::from_micros(850)), "850 µs");
        assert_eq!(fmt_latency(Duration::from_millis(1234)), "1.23 s");
    }

    #[test]
    fn formats_durations() {
        assert_eq!(fmt_seconds(12), "12s");
        assert_eq!(fmt_seconds(65), "1m05s");
        assert_eq!(fmt_seconds(3723), "1h02m03s");
        assert_eq!(fmt_run_duration(850), "850 ms");
        assert_eq!(fmt_run_duration(12_345), "12.3 s");
        assert_eq!(fmt_run_duration(65_000), "1m 05s");
        assert_eq!(fmt_run_duration(3_723_000), "1h 02m 03s");
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(fmt_timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_rfc3339(951_827_696_789), "2000-02-29T12:34:56.789Z");
        assert_eq!(fmt_timestamp(1_714_564_800_000), "2024-05-01 12:00:00 UTC");
        // Never panics, even far in the future.
        assert!(!fmt_timestamp(u64::MAX).is_empty());
    }

    #[test]
    fn truncates_by_chars() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo wörld", 6), "héllo…");
        assert_eq!(truncate_chars("abc", 0), "");
    }
}
