//! The value parsers of `serve`'s settings that clap has no built-in for: durations
//! (plain seconds or humantime), lower bounds where zero would mean "refuse
//! everything", a certificate's lifetime. The flag, its variable and its `--config`
//! key all go through them.

use std::time::Duration;

/// A duration setting: plain seconds (`"10"`, what every duration setting always took)
/// or anything `humantime` reads (`"500ms"`, `"24h"`, `"7d"`, `"1h 30m"`).
pub(super) fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let secs = text.parse().map_err(|e| format!("{e}"))?;
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a duration: use seconds or e.g. 30s, 10m, 24h, 7d"))
}

/// A certificate's lifetime, in the certs service's own format (shared with its API).
pub(super) fn certificate_ttl(text: &str) -> Result<Duration, String> {
    magnetite_certs::parse_ttl(text).map_err(|e| e.to_string())
}

/// A timeout where zero would close every connection at once: refused.
pub(super) fn at_least_a_second(text: &str) -> Result<Duration, String> {
    let value = duration(text)?;
    if value < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(value)
}

/// An interval that must tick (a keep-alive): zero is refused.
pub(super) fn at_least_a_millisecond(text: &str) -> Result<Duration, String> {
    let value = duration(text)?;
    if value < Duration::from_millis(1) {
        return Err("must be at least 1ms".into());
    }
    Ok(value)
}

/// A limit where 0 would mean "refuse everything" rather than "no limit": refused.
pub(super) fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_take_plain_seconds_and_humantime() {
        use std::time::Duration;
        let parsed = |text| super::duration(text);
        assert_eq!(parsed("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parsed("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parsed("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parsed("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parsed("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parsed("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parsed("0"), Ok(Duration::ZERO));
        for bad in ["", "soon", "-5s", "10x", "99999999999999999999"] {
            assert!(parsed(bad).is_err(), "{bad:?}");
        }
    }
}
