//! The JSON parser prints numbers exactly as JavaScript's `JSON.stringify` does.

use primus_core::{parser::Json, to_value, Parser, Value};
use proptest::prelude::*;

fn enc<T: serde::Serialize + ?Sized>(v: &T) -> String {
    Json.encode(&v).unwrap().as_str().unwrap().to_string()
}

/// Outputs everyone who knows JavaScript can check by heart.
#[test]
fn well_known_javascript_outputs() {
    let cases: &[(f64, &str)] = &[
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (123e-20, "1.23e-18"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (100.0, "100"),
        (0.5, "0.5"),
        (-1.5, "-1.5"),
        (1.0, "1"),
        (-0.0, "0"),
        (0.0, "0"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (0.0000015, "0.0000015"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e20, "100000000000000000000"),
        (1.5e21, "1.5e+21"),
        (-1e21, "-1e+21"),
        (1e100, "1e+100"),
        (2f64.powi(53), "9007199254740992"),
        (0.1, "0.1"),
        (1.0 / 3.0, "0.3333333333333333"),
        (12345678.9, "12345678.9"),
        (f64::NAN, "null"),
        (f64::INFINITY, "null"),
        (f64::NEG_INFINITY, "null"),
    ];
    for &(x, js) in cases {
        assert_eq!(enc(&x), js, "{x:e}");
        // Display of the value agrees with the parser.
        if x.is_finite() {
            assert_eq!(Value::from(x).to_string(), js, "{x:e}");
        }
    }
}

/// Generated with Node.js v20 (`JSON.stringify(x)` for the f64 with these bits), including
/// exact ties between two shortest candidates, where JavaScript picks the even digit.
const NODE_TABLE: &[(u64, &str)] = &[
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x3ff0000000000000, "1"),
    (0xbff0000000000000, "-1"),
    (0x4059000000000000, "100"),
    (0x3fe0000000000000, "0.5"),
    (0xbff8000000000000, "-1.5"),
    (0x3fb999999999999a, "0.1"),
    (0x3fd3333333333334, "0.30000000000000004"),
    (0x3fd5555555555555, "0.3333333333333333"),
    (0x3fe5555555555555, "0.6666666666666666"),
    (0x4011666666666666, "4.35"),
    (0x444b1ae4d6e2ef50, "1e+21"),
    (0x444b1ae4d6e2ef50, "1e+21"),
    (0x444b1ae4d6e2ef4f, "999999999999999900000"),
    (0x441ac53a7e04bcda, "123456789012345680000"),
    (0x3e8421f5f40d8376, "1.5e-7"),
    (0x3e7ad7f29abcaf48, "1e-7"),
    (0x3eb0c6f7a0b5ed8d, "0.000001"),
    (0x3eb92a737110e454, "0.0000015"),
    (0x3eb4b3fd5942cd96, "0.000001234"),
    (0x3eb09c0482f18c75, "9.9e-7"),
    (0x3c36b082c2148b8e, "1.23e-18"),
    (0x0000000000000001, "5e-324"),
    (0x0000000000000005, "2.5e-323"),
    (0x7fefffffffffffff, "1.7976931348623157e+308"),
    (0x0010000000000000, "2.2250738585072014e-308"),
    (0x4340000000000000, "9007199254740992"),
    (0x4340000000000001, "9007199254740994"),
    (0x43f0000000000000, "18446744073709552000"),
    (0x43e0000000000000, "9223372036854776000"),
    (0x4630000000000000, "1.2676506002282294e+30"),
    (0xc1e0000000000000, "-2147483648"),
    (0x430c6bf526340000, "1000000000000000"),
    (0x4341c37937e08000, "10000000000000000"),
    (0x4376345785d8a000, "100000000000000000"),
    (0x41678c29dccccccd, "12345678.9"),
    (0x4415af1d78b58c40, "100000000000000000000"),
    (0x442043561a882930, "150000000000000000000"),
    (0x3eb0000000000000, "9.5367431640625e-7"),
    (0x3fd3333333333334, "0.30000000000000004"),
    (0x7e37e43c8800759c, "1e+300"),
    (0x81a56e1fc2f8f359, "-1e-300"),
    (0x400921f9f01b866e, "3.14159"),
    (0x4005bf0a8b145769, "2.718281828459045"),
    (0x431853a94c2d5b1d, "1711846508418759.2"),
    (0xc31c326ed1a5a32d, "-1984187723245771.2"),
    (0x430047a786b2afba, "572798059042295.2"),
    (0x432fffffffffffff, "4503599627370495.5"),
    (0x3ee4f8b588e368f1, "0.00001"),
    (0x3ee92a737110e454, "0.000012"),
    (0x40934a456d5cfaad, "1234.5678"),
    (0x4480f0cf064dd592, "1e+22"),
    (0x44b52d02c7e14af6, "1e+23"),
    (0x3ea0c6f7a0b5ed8d, "5e-7"),
    (0x3ee4f8b588e368f1, "0.00001"),
    (0x4024000000000001, "10.000000000000002"),
    (0x4340000000000000, "9007199254740992"),
    (0x3fe6666666666666, "0.7"),
    (0x3ff199999999999a, "1.1"),
    (0x3ddb7cdfd9d7bdbb, "1e-10"),
    (0x444b1ae4d6e2ef51, "1.0000000000000001e+21"),
    (0x40f0000200000000, "65536.125"),
    (0x42effffffffffff8, "281474976710655.75"),
    (0x43227b82a7042800, "2601175329412096"),
    (0x43221ea77f790800, "2550127163900928"),
    (0x4322df135628e800, "2655911861842944"),
    (0x431586bee2179080, "1514782226506784"),
    (0x432350fe69eca700, "2718539093267328"),
    (0x4323d4a92b3b1f00, "2790923798679424"),
    (0x4324b3cc189a5700, "2913594350840704"),
    (0x432147271debea00, "2431653967688960"),
    (0x4316afb4c99e6b00, "1596410124802752"),
    (0x4325f0df6c07c800, "3087908445873152"),
    (0x43139016786b5080, "1376612685370400"),
    (0x4323b38a2ed98700, "2772715315184512"),
    (0x4308f02a5e45fe00, "877433025249216"),
    (0x4316b3186f753700, "1597341754543552"),
    (0x430d6aa66dbc5e00, "1035004670348224"),
    (0x43151d86161be700, "1485859061168576"),
    (0x430510e2515ff500, "741192340602528"),
    (0x430c10368126bd00, "987390703622048"),
    (0x4317914dbbd82c00, "1658421878590208"),
    (0x43140e5d9cd6ac00, "1411323690068736"),
    (0x430df3dbdf998e00, "1053862499922368"),
    (0x43151a5d27683f00, "1484990476586944"),
    (0x431092a06c5c7700, "1166204334448064"),
    (0x4313341b0e376f00, "1351328841194432"),
    // More ties, found by comparing Rust's shortest digits with Node on random doubles.
    (0x42e7f672cb95efb4, "210778042707837.62"),
    (0x431778058606bf7d, "1651472395775967.2"),
    (0x428e8d005e8fa540, "4198868177396.6562"),
    (0x42831c2e82421340, "2626470037570.4062"),
    (0x42ab61d387664520, "15053487321890.562"),
    (0x41ee33421acb2000, "4053405910.3476562"),
    (0x431607957bb3a7b5, "1550197023631853.2"),
    (0x424f367cf2ff9a00, "268116289023.20312"),
    (0x420399cb135f9000, "10523075179.945312"),
    (0x431d9a54a916a859, "2083115682343446.2"),
    (0x431d4f3789d7ae05, "2062468569754497.2"),
    (0x41ef4fd5b28ca000, "4202605972.3945312"),
];

#[test]
fn matches_node() {
    for &(bits, js) in NODE_TABLE {
        let x = f64::from_bits(bits);
        assert_eq!(enc(&x), js, "{x:e} ({bits:#018x})");
        assert_eq!(enc(&to_value(&x).unwrap()), js, "{x:e} via Value");
    }
}

#[test]
fn integers_are_exact() {
    assert_eq!(enc(&u64::MAX), "18446744073709551615");
    assert_eq!(enc(&i64::MIN), "-9223372036854775808");
    assert_eq!(enc(&9007199254740993u64), "9007199254740993");
    assert_eq!(enc(&-7i8), "-7");
    assert_eq!(enc(&(u64::MAX as u128 + 1)), "18446744073709551616");
}

#[test]
fn f32_prints_its_own_shortest_digits() {
    assert_eq!(enc(&0.1f32), "0.1");
    assert_eq!(enc(&1e21f32), "1e+21");
    assert_eq!(enc(&-1.5e-7f32), "-1.5e-7");
    assert_eq!(enc(&16777216f32), "16777216");
    assert_eq!(enc(&-0.0f32), "0");
    assert_eq!(enc(&f32::NAN), "null");
    // to_value agrees.
    assert_eq!(enc(&to_value(&0.1f32).unwrap()), "0.1");
}

#[test]
fn numbers_inside_structures() {
    let v = vec![1.0, 2.5, f64::NAN, 1e21];
    assert_eq!(enc(&v), "[1,2.5,null,1e+21]");
}

/// The layouts ECMAScript `Number::toString` allows.
fn is_js_number_layout(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    if let Some(e) = exp {
        let Some(digits) = e.strip_prefix('+').or_else(|| e.strip_prefix('-')) else {
            return false;
        };
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return false;
        }
        // d or d.ddd, no trailing zero in the fraction
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        int.len() == 1 && int != "0" && frac.is_none_or(|f| !f.is_empty() && !f.ends_with('0'))
    } else {
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        !int.is_empty()
            && (int == "0" || !int.starts_with('0'))
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| {
                !f.is_empty() && !f.ends_with('0') && f.bytes().all(|b| b.is_ascii_digit())
            })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_f64_round_trips_in_js_layout(bits in any::<u64>()) {
        let x = f64::from_bits(bits);
        let s = enc(&x);
        if !x.is_finite() {
            prop_assert_eq!(s, "null");
        } else {
            prop_assert!(is_js_number_layout(&s), "{} for {:e}", s, x);
            let back: f64 = serde_json::from_str(&s).unwrap();
            prop_assert_eq!(back, x);
            prop_assert_eq!(Value::from(x).to_string(), s);
        }
    }

    #[test]
    fn any_f32_round_trips_as_f32(x in any::<f32>().prop_filter("finite", |x| x.is_finite())) {
        let s = enc(&x);
        prop_assert!(is_js_number_layout(&s), "{} for {:e}", s, x);
        let back: f32 = s.parse().unwrap();
        prop_assert_eq!(back, x);
    }

    #[test]
    fn integral_floats_print_as_integers(i in -(1i64 << 53)..(1i64 << 53)) {
        prop_assert_eq!(enc(&(i as f64)), i.to_string());
    }
}
