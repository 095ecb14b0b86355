//! `query::parse` against Node's `querystring.parse` (expected outputs recorded with
//! Node's own implementation: `JSON.stringify(querystring.parse(input))`).

use primus_core::query::{self, QueryValue, MAX_KEYS};

/// (input, `JSON.stringify(querystring.parse(input))` as printed by Node)
const NODE_CASES: &[(&str, &str)] = &[
    (
        "foo=bar&abc=xyz&abc=123",
        r#"{"foo":"bar","abc":["xyz","123"]}"#,
    ),
    ("a+b=c+d", r#"{"a b":"c d"}"#),
    ("a=%E2%82%AC", r#"{"a":"€"}"#),
    ("a=%zz", r#"{"a":"%zz"}"#),
    ("a", r#"{"a":""}"#),
    ("=x", r#"{"":"x"}"#),
    ("a=1&&b=2", r#"{"a":"1","b":"2"}"#),
    ("", "{}"),
    ("&", "{}"),
    ("&&&", "{}"),
    ("=", r#"{"":""}"#),
    ("a=", r#"{"a":""}"#),
    ("a=b=c", r#"{"a":"b=c"}"#),
    ("?a=1", r#"{"?a":"1"}"#),
    ("a=1&a=2&a=3", r#"{"a":["1","2","3"]}"#),
    ("%2B=%2b", r#"{"+":"+"}"#),
    ("a=%2", r#"{"a":"%2"}"#),
    ("a=%", r#"{"a":"%"}"#),
    ("a=%%41", r#"{"a":"%A"}"#),
    ("a=%41%", r#"{"a":"A%"}"#),
    ("a=%F0%9F%98%80", r#"{"a":"😀"}"#),
    ("a=%ED%A0%80", "{\"a\":\"\u{FFFD}\u{FFFD}\u{FFFD}\"}"),
    ("a=%C0%AF", "{\"a\":\"\u{FFFD}\u{FFFD}\"}"),
    ("a=%E9", "{\"a\":\"\u{FFFD}\"}"),
    ("a=%C3%A9%zz", r#"{"a":"é%zz"}"#),
    ("a%20b=1", r#"{"a b":"1"}"#),
    ("b=1&2=x&1=y&0=z", r#"{"0":"z","1":"y","2":"x","b":"1"}"#),
    (
        "4294967295=a&4294967294=b&01=c&-1=e",
        r#"{"4294967294":"b","4294967295":"a","01":"c","-1":"e"}"#,
    ),
    (
        "__proto__=x&constructor=y&hasOwnProperty=z",
        r#"{"__proto__":"x","constructor":"y","hasOwnProperty":"z"}"#,
    ),
    ("a=1&b&a&b=2", r#"{"a":["1",""],"b":["","2"]}"#),
    ("a=b&A=c", r#"{"a":"b","A":"c"}"#),
    ("x=%E2%82", "{\"x\":\"\u{FFFD}\"}"),
    ("x=%e2%82%ac", r#"{"x":"€"}"#),
    ("x=1;y=2", r#"{"x":"1;y=2"}"#),
    ("x=a%26b%3Dc", r#"{"x":"a&b=c"}"#),
    ("x=+%20+", r#"{"x":"   "}"#),
    ("a=ü", r#"{"a":"ü"}"#),
    ("%41%=1", r#"{"A%":"1"}"#),
    ("a[]=1&a[]=2", r#"{"a[]":["1","2"]}"#),
    ("a=1&", r#"{"a":"1"}"#),
    ("&a=1", r#"{"a":"1"}"#),
];

#[test]
fn matches_node_querystring_parse() {
    for (input, expected) in NODE_CASES {
        let got = serde_json::to_string(&query::parse(input)).unwrap();
        assert_eq!(&got, expected, "input {input:?}");
    }
}

#[test]
fn documented_examples() {
    let q = query::parse("foo=bar&abc=xyz&abc=123");
    assert_eq!(q.len(), 2);
    assert_eq!(q["foo"], QueryValue::One("bar".into()));
    assert_eq!(q["abc"], QueryValue::Many(vec!["xyz".into(), "123".into()]));
    assert_eq!(q.keys().collect::<Vec<_>>(), ["foo", "abc"]);

    assert_eq!(query::parse("a+b=c+d")["a b"].as_str(), "c d");
    assert_eq!(query::parse("a=%E2%82%AC")["a"].as_str(), "€");
    assert_eq!(query::parse("a=%zz")["a"].as_str(), "%zz");
    assert_eq!(query::parse("a")["a"].as_str(), "");
    assert_eq!(query::parse("=x")[""].as_str(), "x");
    let q = query::parse("a=1&&b=2");
    assert_eq!(q.len(), 2);
    assert_eq!((q["a"].as_str(), q["b"].as_str()), ("1", "2"));
}

#[test]
fn observed_primus_query() {
    // [observed] `?foo=bar&foo=baz` → {"foo":["bar","baz"]} (callers pass the part after '?').
    let q = query::parse("foo=bar&foo=baz&_primuscb=1700000000000-0");
    assert_eq!(q["foo"].values(), ["bar", "baz"]);
    assert_eq!(q["_primuscb"].as_str(), "1700000000000-0");
}

#[test]
fn value_helpers() {
    let one = QueryValue::from("x");
    assert_eq!(one.as_str(), "x");
    assert_eq!(one.last(), "x");
    assert_eq!(one.values(), ["x"]);
    let many = QueryValue::from(vec!["x".to_string(), "y".to_string()]);
    assert_eq!(many.as_str(), "x");
    assert_eq!(many.last(), "y");
    assert_eq!(many.values(), ["x", "y"]);
    let empty = QueryValue::Many(vec![]);
    assert_eq!(empty.as_str(), "");
    assert!(empty.values().is_empty());
}

#[test]
fn serde_round_trip() {
    let q = query::parse("a=1&b=2&b=3");
    let json = serde_json::to_string(&q).unwrap();
    assert_eq!(json, r#"{"a":"1","b":["2","3"]}"#);
    let back: query::Query = serde_json::from_str(&json).unwrap();
    assert_eq!(back, q);
}

#[test]
fn max_keys_counts_pieces() {
    // 1001 distinct keys: only the first 1000 are kept.
    let s: Vec<String> = (0..1001).map(|i| format!("k{i}=v")).collect();
    let q = query::parse(&s.join("&"));
    assert_eq!(q.len(), MAX_KEYS);
    assert!(q.contains_key("k999"));
    assert!(!q.contains_key("k1000"));

    // Repeated key: at most 1000 values.
    let s: Vec<String> = (0..1001).map(|i| format!("k=v{i}")).collect();
    assert_eq!(query::parse(&s.join("&"))["k"].values().len(), MAX_KEYS);

    // Empty pieces count too (Node: 999 `&` then `a=1&b=2` → {"a":"1"}).
    let s = format!("{}a=1&b=2", "&".repeat(999));
    let q = query::parse(&s);
    assert_eq!(serde_json::to_string(&q).unwrap(), r#"{"a":"1"}"#);
}

#[test]
fn unescape_fallback() {
    assert_eq!(query::unescape("plain"), "plain");
    assert_eq!(query::unescape("%zz%41"), "%zzA");
    assert_eq!(query::unescape("%4"), "%4");
    assert_eq!(query::unescape("%%41%"), "%A%");
    assert_eq!(query::unescape("a+b"), "a+b");
    // Our documented difference from Node's byte-truncating fallback.
    assert_eq!(query::unescape("ü%zz%41"), "ü%zzA");
}
