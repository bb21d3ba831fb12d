//! SenML JSON packs (RFC 8428) resolved into records, as Magistrala's writers store them.
//!
//! Base fields (`bn`, `bt`, `bu`, `bv`, `bs`) apply to the record they are in and every
//! later one until changed; names are `bn + n`, times `bt + t`, and a resolved time
//! below 2^28 is relative to when the message arrived (RFC 8428 §4.5.3). A pack with a
//! record that has no name or no value is not SenML: the message is stored raw, as any
//! other payload, so nothing a device sends is lost.

use serde::Deserialize;

/// Times below this are relative to "now" (RFC 8428 §4.5.3).
const RELATIVE_TIME_LIMIT: f64 = 268_435_456.0;

/// One resolved SenML record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    pub name: String,
    pub unit: Option<String>,
    pub value: Option<f64>,
    pub string_value: Option<String>,
    pub bool_value: Option<bool>,
    pub data_value: Option<String>,
    pub sum: Option<f64>,
    /// Seconds since the Unix epoch.
    pub time: f64,
    pub update_time: Option<f64>,
}

/// A record as written: every field optional.
#[derive(Debug, Default, Deserialize)]
struct Written {
    bn: Option<String>,
    bt: Option<f64>,
    bu: Option<String>,
    bv: Option<f64>,
    bs: Option<f64>,
    n: Option<String>,
    u: Option<String>,
    v: Option<f64>,
    vs: Option<String>,
    vb: Option<bool>,
    vd: Option<String>,
    s: Option<f64>,
    t: Option<f64>,
    ut: Option<f64>,
}

/// The base fields in force while a pack is read.
#[derive(Debug, Default)]
struct Base {
    name: String,
    time: f64,
    unit: Option<String>,
    value: Option<f64>,
    sum: Option<f64>,
}

/// The records of a SenML JSON pack received at `received_at` (Unix seconds), or
/// `None` when the payload is not one.
pub fn parse(payload: &[u8], received_at: f64) -> Option<Vec<Record>> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'[' {
        return None;
    }
    let written: Vec<Written> = serde_json::from_slice(payload).ok()?;
    if written.is_empty() {
        return None;
    }
    let mut base = Base::default();
    written
        .into_iter()
        .map(|w| resolve(&mut base, w, received_at))
        .collect()
}

fn resolve(base: &mut Base, w: Written, received_at: f64) -> Option<Record> {
    if let Some(bn) = w.bn {
        base.name = bn;
    }
    if let Some(bt) = w.bt {
        base.time = bt;
    }
    if w.bu.is_some() {
        base.unit = w.bu;
    }
    if w.bv.is_some() {
        base.value = w.bv;
    }
    if w.bs.is_some() {
        base.sum = w.bs;
    }
    let name = format!("{}{}", base.name, w.n.unwrap_or_default());
    let value = w.v.map(|v| v + base.value.unwrap_or(0.0));
    let sum = w.s.map(|s| s + base.sum.unwrap_or(0.0));
    let has_value = value.is_some() || sum.is_some() || w.vs.is_some();
    if name.is_empty() || !(has_value || w.vb.is_some() || w.vd.is_some()) {
        return None;
    }
    let mut time = base.time + w.t.unwrap_or(0.0);
    if time < RELATIVE_TIME_LIMIT {
        time += received_at;
    }
    Some(Record {
        name,
        unit: w.u.or_else(|| base.unit.clone()),
        value,
        string_value: w.vs,
        bool_value: w.vb,
        data_value: w.vd,
        sum,
        time,
        update_time: w.ut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    #[test]
    fn base_fields_resolve_into_each_record() {
        let pack = br#"[{"bn":"dev1/","bt":1.7e9,"bu":"V","n":"voltage","v":5},
                        {"n":"current","t":2,"u":"A","v":1.5},
                        {"n":"on","vb":true},{"n":"label","vs":"x"},{"n":"blob","vd":"AQ=="}]"#;
        let records = parse(pack, NOW).expect("senml");
        assert_eq!(records.len(), 5);
        assert_eq!(records[0].name, "dev1/voltage");
        assert_eq!(records[0].unit.as_deref(), Some("V"));
        assert_eq!(records[0].value, Some(5.0));
        assert_eq!(records[0].time, 1.7e9);
        assert_eq!(records[1].name, "dev1/current");
        assert_eq!(records[1].unit.as_deref(), Some("A"));
        assert_eq!(records[1].time, 1.7e9 + 2.0);
        assert_eq!(records[2].bool_value, Some(true));
        assert_eq!(records[3].string_value.as_deref(), Some("x"));
        assert_eq!(records[4].data_value.as_deref(), Some("AQ=="));
    }

    #[test]
    fn base_value_and_sum_add_up() {
        let records = parse(br#"[{"n":"t","bv":20,"v":1.5,"bs":10,"s":2}]"#, NOW).unwrap();
        assert_eq!(records[0].value, Some(21.5));
        assert_eq!(records[0].sum, Some(12.0));
    }

    #[test]
    fn relative_times_count_from_arrival() {
        let records = parse(br#"[{"n":"t","v":1},{"n":"t","v":2,"t":-5}]"#, NOW).unwrap();
        assert_eq!(records[0].time, NOW);
        assert_eq!(records[1].time, NOW - 5.0);
    }

    #[test]
    fn anything_else_is_not_senml() {
        for payload in [
            &b"hello"[..],
            b"{\"n\":\"t\",\"v\":1}",
            b"[]",
            b"[{\"v\":1}]",
            b"[{\"n\":\"no value\"}]",
            b"[{\"n\":\"t\",\"v\":\"text\"}]",
            b"[1,2]",
            b"",
        ] {
            assert_eq!(
                parse(payload, NOW),
                None,
                "{:?}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
