//! Numbers in line protocol: integers in decimal, floats in their shortest round-trip form
//! without exponent (what `Display` writes, byte for byte, at a fraction of its cost).

/// Writes `n` in decimal.
pub(super) fn push_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `n` in decimal.
pub(super) fn push_uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The powers of ten up to the fast path's longest fraction, as floats and integers.
const SCALES: [(f64, u64); 7] = [
    (1.0, 1),
    (10.0, 10),
    (100.0, 100),
    (1e3, 1_000),
    (1e4, 10_000),
    (1e5, 100_000),
    (1e6, 1_000_000),
];

/// Writes a finite float in its shortest round-trip decimal form, without exponent.
pub(super) fn push_float(out: &mut Vec<u8>, v: f64) {
    // Fast path for the common sensor value (few decimals): `m / 10^k` is the correctly rounded
    // f64 nearest to the decimal `m·10^-k`, so if it equals `v`, that decimal round-trips; trying
    // k upwards finds the shortest. Exact while `|m| < 2^53`; below 1e9 with at most six
    // decimals at most one integer `m` can qualify, and it is the one nearest `v·10^k`, which
    // adding and subtracting 1.5·2^52 finds (round to nearest, no call into libm; exact for
    // `|v·10^k| < 2^51`).
    if v.abs() < 1e9 {
        const ROUND: f64 = 6_755_399_441_055_744.0;
        for (k, &(scale, int_scale)) in SCALES.iter().enumerate() {
            let m = (v * scale + ROUND) - ROUND;
            if m / scale == v {
                push_decimal(
                    out,
                    m.abs() as u64,
                    int_scale,
                    k,
                    v.is_sign_negative() && m != 0.0,
                );
                return;
            }
        }
    }
    push_shortest(out, v);
}

/// Writes a finite float in its shortest round-trip form, as `Display` does (never in exponent
/// form): the digits from `zmij` (Schubfach, a few hundred instructions against about a
/// thousand for `Display`), placed around the decimal point here. Where the two could differ,
/// `Display` writes it: they pick the same digits whenever one shortest decimal round-trips,
/// and two can only when that decimal has 16 or more significant digits and `v` lies exactly
/// halfway between them, so its exact expansion has at most 18 digits, which needs a binary
/// exponent above -26 (`zmij` then rounds the tie to even, `Display` up).
fn push_shortest(out: &mut Vec<u8>, v: f64) {
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(v).as_bytes();
    let (mantissa, exp) = match text.iter().position(|c| *c == b'e') {
        Some(e) => (&text[..e], exponent(&text[e + 1..])),
        None => (text, 0),
    };
    let significant = mantissa
        .iter()
        .filter(|c| c.is_ascii_digit())
        .skip_while(|c| **c == b'0')
        .count();
    if significant >= 16 && may_be_a_tie(v) {
        use std::io::Write;
        // `Display` for f64 is the shortest representation that round-trips, never in
        // exponent form.
        let _ = write!(out, "{v}");
        return;
    }
    let (negative, mantissa) = match mantissa.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, mantissa),
    };
    if negative {
        out.push(b'-');
    }
    if exp == 0 {
        // `zmij` writes integral values with `.0`; `Display` without.
        out.extend_from_slice(mantissa.strip_suffix(b".0").unwrap_or(mantissa));
        return;
    }
    // `d[.ddd]e±x`: the digits, with the point after the first one.
    let mut digits = [0u8; 24];
    let mut n = 0;
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        if let Some(slot) = digits.get_mut(n) {
            *slot = c;
            n += 1;
        }
    }
    let digits = &digits[..n];
    let point = exp + 1;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + point.unsigned_abs() as usize, b'0');
        out.extend_from_slice(digits);
    } else if point as usize >= n {
        out.extend_from_slice(digits);
        out.resize(out.len() + (point as usize - n), b'0');
    } else {
        out.extend_from_slice(&digits[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[point as usize..]);
    }
}

/// The decimal exponent `zmij` wrote after `e` (`-7`, `21`).
fn exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let e = digits
        .iter()
        .fold(0i32, |e, d| e * 10 + i32::from(d.wrapping_sub(b'0')));
    if negative {
        -e
    } else {
        e
    }
}

/// Whether `v = m·2^e` (m odd) has `e > -26`: otherwise its exact decimal expansion, the digits
/// of `m·5^-e`, has more than 18 digits and cannot lie halfway between two shortest decimals.
fn may_be_a_tie(v: f64) -> bool {
    let bits = v.to_bits();
    let fraction = bits & ((1 << 52) - 1);
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    m != 0 && e + i64::from(m.trailing_zeros()) > -26
}

/// Writes `-`(when `negative`) `abs / scale` `.` and the `k` digits of `abs % scale`
/// (`scale` = 10^k; no point when k = 0).
fn push_decimal(out: &mut Vec<u8>, abs: u64, scale: u64, k: usize, negative: bool) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    if k > 0 {
        let mut frac = abs % scale;
        for _ in 0..k {
            i -= 1;
            buf[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        i -= 1;
        buf[i] = b'.';
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(itoa::Buffer::new().format(abs / scale).as_bytes());
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_shortest_round_trip() {
        for (v, text) in [
            (25.3, "25.3"),
            (-0.05, "-0.05"),
            (40.0, "40"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1000000000000000000000"),
            (123456.789012, "123456.789012"),
            (1.0000001, "1.0000001"),
            (-7.25, "-7.25"),
        ] {
            let mut out = Vec::new();
            push_float(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), text);
            assert_eq!(text.parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn floats_are_written_as_display_writes_them() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let check = |v: f64| {
            if !v.is_finite() {
                return;
            }
            let mut out = Vec::new();
            push_float(&mut out, v);
            // `-0` is written `0` (by the fast path), the only difference from `Display`.
            let expected = if v == 0.0 { "0".into() } else { format!("{v}") };
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{v:e}");
        };
        for v in [
            0.0,
            1e21,
            1e22,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1.2345678901234568e20,
            0.1,
            1.5e300,
            1e16,
            1e15,
            1.0,
            100.0,
            1e9,
            999_999_999.999_999_9,
            // Exactly halfway between two shortest decimals (`zmij` alone would round to even).
            1_658_206_780_088_562.0 + 0.25,
            536_870_912.0 + 1.0 / 256.0,
        ] {
            check(v);
            check(-v);
        }
        for k in 0..64 {
            for f in 1..60 {
                let v = 2f64.powi(k) + 2f64.powi(-f);
                check(v);
                check(v * 3.0);
                check(v + 0.5);
            }
        }
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(f64::from_bits(x));
            check((x % 100_000_000) as f64 / 1000.0);
            check((x >> 11) as f64 / (1u64 << 53) as f64 * 1e6);
            check((x >> 11) as f64 * 8.0);
        }
    }
}
