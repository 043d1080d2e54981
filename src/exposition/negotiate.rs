//! Which format and coding a scraper gets: from `Accept` and
//! `Accept-Encoding`, weighed as RFC 9110 says. Any header, however odd,
//! gets an answer: the 0.0.4 text unless OpenMetrics is preferred, gzip
//! only when it is accepted with a weight above 0.

use hyper::header::HeaderMap;
use hyper::header::{ACCEPT, ACCEPT_ENCODING, HeaderName};

/// The exposition format of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format `headers` prefer. Each format takes the weight of the
    /// most specific media range in `Accept` that matches it (its own type,
    /// then `type/*`, then `*/*`); OpenMetrics when its weight is above 0
    /// and above the text format's, or equal and given first; the text
    /// format otherwise.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Format {
        let items = items(headers, ACCEPT);
        let weigh = |format: Format| {
            let mut best: Option<(u8, u16, usize)> = None;
            for (place, item) in items.iter().enumerate() {
                let Some(specific) = format.specificity(item.token, item.version) else {
                    continue;
                };
                if best.is_none_or(|(s, _, _)| specific > s) {
                    best = Some((specific, item.weight.unwrap_or(0), place));
                }
            }
            best.map(|(_, weight, place)| (weight, place))
        };
        match (weigh(Format::OpenMetrics), weigh(Format::Text)) {
            (Some((0, _)), _) => Format::Text,
            (Some(_), None) => Format::OpenMetrics,
            (Some((om, at)), Some((text, text_at)))
                if om > text || (om == text && at < text_at) =>
            {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }

    /// How specifically a media range (with its `version`) names this
    /// format: 3 its own type, 2 `type/*`, 1 `*/*`; `None` when it does not.
    fn specificity(self, media: &str, version: Option<&str>) -> Option<u8> {
        let (kind, subtype) = media.split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        // OpenMetrics 0.0.1 is the draft of 1.0.0, written alike.
        let (own_kind, own_subtype, versions): (&str, &str, &[&str]) = match self {
            Format::Text => ("text", "plain", &["0.0.4"]),
            Format::OpenMetrics => ("application", "openmetrics-text", &["1.0.0", "0.0.1"]),
        };
        if kind == "*" && subtype == "*" {
            return Some(1);
        }
        if !kind.eq_ignore_ascii_case(own_kind) {
            return None;
        }
        if subtype == "*" {
            return Some(2);
        }
        let own = subtype.eq_ignore_ascii_case(own_subtype)
            && version.is_none_or(|version| versions.contains(&version));
        own.then_some(3)
    }

    /// The `Content-Type` of an answer in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Whether `Accept-Encoding` accepts gzip: listed (or `x-gzip`) with a
/// weight above 0, or, when not listed, `*` with a weight above 0. A weight
/// that is not one (`q=nan`, `q=2`) accepts nothing.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None::<bool>, None::<bool>);
    for item in items(headers, ACCEPT_ENCODING) {
        let yes = item.weight.is_some_and(|w| w > 0);
        let coding = item.token;
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.unwrap_or(false) || yes);
    }
    gzip.or(any).unwrap_or(false)
}

/// One item of a comma-separated header list: its token (a media range or
/// a coding), its weight (`None` when `q` is not one; 1 when absent) and
/// its `version` parameter.
struct Item<'h> {
    token: &'h str,
    weight: Option<u16>,
    version: Option<&'h str>,
}

/// The items of every `name` header, in order; an item that is not text
/// is skipped, not the header it is in.
fn items(headers: &HeaderMap, name: HeaderName) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        for item in value.as_bytes().split(|&byte| byte == b',') {
            let Ok(item) = std::str::from_utf8(item) else {
                continue;
            };
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or_default().trim();
            let (mut weight, mut version) = (Some(1000), None);
            for parameter in parts {
                let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                let (name, value) = (name.trim(), value.trim().trim_matches('"'));
                if name.eq_ignore_ascii_case("q") {
                    weight = parse_weight(value);
                } else if name.eq_ignore_ascii_case("version") {
                    version = Some(value);
                }
            }
            items.push(Item {
                token,
                weight,
                version,
            });
        }
    }
    items
}

/// A weight (`qvalue`: `0`, `0.5`, `1.000`) in thousandths; `None` when it
/// is not one.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(name: hyper::header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn format(accept: &[&str]) -> Format {
        Format::negotiate(&headers(ACCEPT, accept))
    }

    #[test]
    fn openmetrics_only_when_preferred() {
        use Format::*;
        for (accept, expected) in [
            // What Prometheus 2.42 sends by default.
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                OpenMetrics,
            ),
            // Prometheus 3's default scrape_protocols.
            (
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                OpenMetrics,
            ),
            // scrape_protocols: [PrometheusText0.0.4]
            ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", Text),
            (
                "text/plain;version=0.0.4,application/openmetrics-text;version=1.0.0;q=0.9",
                Text,
            ),
            (
                "application/openmetrics-text; version=1.0.0; q=0.9, text/plain; q=0.8",
                OpenMetrics,
            ),
            ("APPLICATION/OpenMetrics-Text", OpenMetrics),
            ("application/openmetrics-text;Q=0, text/plain", Text),
            ("application/openmetrics-text;q=nan", Text),
            ("application/openmetrics-text;version=2.0.0", Text),
            ("text/plain;version=1.0.0", Text),
            ("application/*", OpenMetrics),
            ("*/*", Text),
            ("", Text),
            ("garbage;;;,=,/", Text),
            ("application/json", Text),
            (
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6",
                OpenMetrics,
            ),
        ] {
            assert_eq!(format(&[accept]), expected, "{accept}");
        }
        assert_eq!(format(&[]), Text);
        // A range that is not text spoils only itself.
        let mut headers = HeaderMap::new();
        let value =
            HeaderValue::from_bytes(b"application/openmetrics-text, text/\xff\xfe").unwrap();
        headers.insert(ACCEPT, value);
        assert_eq!(Format::negotiate(&headers), OpenMetrics);
        assert_eq!(
            format(&["text/plain;q=0.5", "application/openmetrics-text"]),
            OpenMetrics
        );
    }

    #[test]
    fn gzip_only_when_accepted_with_a_weight_above_0() {
        let accepts = |value: &str| accepts_gzip(&headers(ACCEPT_ENCODING, &[value]));
        for yes in [
            "gzip",
            "deflate, GZIP;q=0.5",
            "identity, *",
            "x-gzip",
            "gzip;q=1.000",
            "br;q=1, gzip;q=0.001",
        ] {
            assert!(accepts(yes), "{yes}");
        }
        for no in [
            "identity",
            "gzip;q=0",
            "gzip;Q=0",
            "gzip;q=nan",
            "gzip;q=2",
            "gzip;q=0.0000",
            "gzip;q=0, *",
            "*, gzip;q=0",
            "*;q=0",
            "",
        ] {
            assert!(!accepts(no), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
