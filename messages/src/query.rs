//! The readers' query (SuperMQ `readers.yaml`, SDK `Messages.Read`), parsed from a
//! route's checked parameters into filters. Pure: the store turns it into SQL.

use std::collections::HashMap;

use magnetite_httpkit::Accepted;

use crate::error::MessagesError;

/// Largest page, as every list of the platform.
pub const MAX_LIMIT: u64 = 100;
const DEFAULT_LIMIT: u64 = 10;

/// The query parameters `GET /{d}/channels/{ch}/messages` accepts (any other is a 400).
/// `Publisher` is written so in the OpenAPI, `publisher` by the SDK: both mean one.
pub struct ReadParams;

impl Accepted for ReadParams {
    const KEYS: &'static [&'static str] = &[
        "offset",
        "limit",
        "subtopic",
        "publisher",
        "Publisher",
        "protocol",
        "name",
        "v",
        "comparator",
        "vb",
        "vs",
        "vd",
        "from",
        "to",
        "format",
        "aggregation",
        "interval",
    ];
}

/// How `v` compares with the stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparator {
    fn parse(text: &str) -> Option<Comparator> {
        Some(match text {
            "eq" => Comparator::Eq,
            "lt" => Comparator::Lt,
            "le" => Comparator::Le,
            "gt" => Comparator::Gt,
            "ge" => Comparator::Ge,
            _ => return None,
        })
    }

    pub fn sql(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }
}

/// Which stored messages a page lists: SenML records, or payloads that were not SenML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Senml,
    Raw,
}

/// A parsed readers query.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadQuery {
    pub offset: u64,
    pub limit: u64,
    pub subtopic: Option<String>,
    pub publisher: Option<String>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub value: Option<(Comparator, f64)>,
    pub bool_value: Option<bool>,
    pub string_value: Option<String>,
    pub data_value: Option<String>,
    /// Unix seconds, inclusive.
    pub from: Option<f64>,
    /// Unix seconds, exclusive.
    pub to: Option<f64>,
    pub format: Format,
    /// Numeric values folded per name and time bucket (`aggregation` + `interval`).
    pub aggregation: Option<Aggregation>,
}

/// The readers' aggregation: one value per (name, `interval_s` bucket of `time`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregation {
    pub function: AggregateFunction,
    /// Seconds, > 0.
    pub interval_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Max,
    Min,
    Avg,
    Sum,
    Count,
}

impl AggregateFunction {
    fn parse(text: &str) -> Option<AggregateFunction> {
        Some(match text.to_ascii_lowercase().as_str() {
            "max" => AggregateFunction::Max,
            "min" => AggregateFunction::Min,
            "avg" => AggregateFunction::Avg,
            "sum" => AggregateFunction::Sum,
            "count" => AggregateFunction::Count,
            _ => return None,
        })
    }

    pub fn sql(self) -> &'static str {
        match self {
            AggregateFunction::Max => "MAX",
            AggregateFunction::Min => "MIN",
            AggregateFunction::Avg => "AVG",
            AggregateFunction::Sum => "SUM",
            AggregateFunction::Count => "COUNT",
        }
    }
}

/// `aggregation` and `interval` go together, on SenML records only.
fn aggregation(
    function: Option<String>,
    interval: Option<String>,
    format: Format,
) -> Result<Option<Aggregation>, MessagesError> {
    let (function, interval) = match (function, interval) {
        (None, None) => return Ok(None),
        (Some(f), Some(i)) => (f, i),
        _ => return Err(invalid("aggregation", "both aggregation and interval")),
    };
    if format != Format::Senml {
        return Err(invalid("format", "messages when aggregating"));
    }
    let function = AggregateFunction::parse(&function)
        .ok_or_else(|| invalid("aggregation", "one of max, min, avg, sum, count"))?;
    let interval_s = interval_seconds(&interval).ok_or_else(|| {
        invalid(
            "interval",
            "a positive duration such as 10s, 5m, 1h, 1d, 1w",
        )
    })?;
    Ok(Some(Aggregation {
        function,
        interval_s,
    }))
}

/// `<number><unit>` with unit s, m, h, d or w (Go's duration units that the SDK's
/// callers use), > 0.
fn interval_seconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return None,
    };
    let seconds = number.parse::<f64>().ok()? * scale;
    (seconds.is_finite() && seconds > 0.0).then_some(seconds)
}

impl ReadQuery {
    /// The query of `values` (names already checked), or a 400 naming the bad value.
    pub fn parse(values: &HashMap<String, String>) -> Result<ReadQuery, MessagesError> {
        let text = |key: &str| values.get(key).filter(|v| !v.is_empty()).cloned();
        let format = format(text("format").as_deref())?;
        let aggregation = aggregation(text("aggregation"), text("interval"), format)?;
        let comparator = match text("comparator") {
            Some(c) => Comparator::parse(&c)
                .ok_or_else(|| invalid("comparator", "one of eq, lt, le, gt, ge"))?,
            None => Comparator::Eq,
        };
        let value = number(values, "v")?.map(|v| (comparator, v));
        let limit = integer(values, "limit")?.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(invalid("limit", "between 1 and 100"));
        }
        Ok(ReadQuery {
            offset: integer(values, "offset")?.unwrap_or(0),
            limit,
            subtopic: text("subtopic").map(|s| s.replace('.', "/")),
            publisher: text("publisher").or_else(|| text("Publisher")),
            protocol: text("protocol"),
            name: text("name"),
            value,
            bool_value: boolean(values, "vb")?,
            string_value: text("vs"),
            data_value: text("vd"),
            from: number(values, "from")?,
            to: number(values, "to")?,
            format,
            aggregation,
        })
    }
}

fn format(text: Option<&str>) -> Result<Format, MessagesError> {
    match text {
        None | Some("messages") | Some("senml") => Ok(Format::Senml),
        Some("raw") => Ok(Format::Raw),
        Some(_) => Err(invalid("format", "messages (SenML records) or raw")),
    }
}

fn invalid(key: &str, expected: &str) -> MessagesError {
    MessagesError::Invalid(format!("invalid {key}: expected {expected}"))
}

fn integer(values: &HashMap<String, String>, key: &str) -> Result<Option<u64>, MessagesError> {
    values
        .get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| invalid(key, "a non-negative integer"))
        })
        .transpose()
}

fn number(values: &HashMap<String, String>, key: &str) -> Result<Option<f64>, MessagesError> {
    values
        .get(key)
        .map(|v| match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(invalid(key, "a number")),
        })
        .transpose()
}

fn boolean(values: &HashMap<String, String>, key: &str) -> Result<Option<bool>, MessagesError> {
    values
        .get(key)
        .map(|v| v.parse().map_err(|_| invalid(key, "true or false")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<ReadQuery, MessagesError> {
        let values = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReadQuery::parse(&values)
    }

    #[test]
    fn defaults_page_ten_senml_records() {
        let q = query(&[]).unwrap();
        assert_eq!((q.offset, q.limit, q.format), (0, 10, Format::Senml));
        assert_eq!(q.value, None);
    }

    #[test]
    fn filters_parse() {
        let q = query(&[
            ("v", "20.5"),
            ("comparator", "ge"),
            ("vb", "true"),
            ("subtopic", "room.1"),
            ("Publisher", "p1"),
            ("from", "1700000000.5"),
            ("format", "raw"),
        ])
        .unwrap();
        assert_eq!(q.value, Some((Comparator::Ge, 20.5)));
        assert_eq!(q.bool_value, Some(true));
        assert_eq!(q.subtopic.as_deref(), Some("room/1"));
        assert_eq!(q.publisher.as_deref(), Some("p1"));
        assert_eq!(q.from, Some(1_700_000_000.5));
        assert_eq!(q.format, Format::Raw);
    }

    #[test]
    fn aggregation_takes_a_function_and_an_interval() {
        let q = query(&[("aggregation", "AVG"), ("interval", "5m")]).unwrap();
        let want = Aggregation {
            function: AggregateFunction::Avg,
            interval_s: 300.0,
        };
        assert_eq!(q.aggregation, Some(want));
        assert_eq!(interval_seconds("1.5h"), Some(5_400.0));
    }

    #[test]
    fn bad_values_are_refused() {
        for pairs in [
            &[("limit", "0")][..],
            &[("limit", "101")],
            &[("offset", "-1")],
            &[("v", "NaN")],
            &[("v", "x")],
            &[("comparator", "like")],
            &[("vb", "yes")],
            &[("format", "csv")],
            &[("aggregation", "max")],
            &[("aggregation", "median"), ("interval", "10s")],
            &[("aggregation", "max"), ("interval", "0s")],
            &[("aggregation", "max"), ("interval", "10")],
            &[
                ("aggregation", "max"),
                ("interval", "10s"),
                ("format", "raw"),
            ],
        ] {
            assert!(
                matches!(query(pairs), Err(MessagesError::Invalid(_))),
                "{pairs:?}"
            );
        }
    }
}
