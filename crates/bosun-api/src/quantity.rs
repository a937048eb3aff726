//! Resource quantities (`500m`, `1.5`, `128Mi`, `1e3`) as exact integers in the unit a component
//! counts in: millicores for cpu, bytes for memory. Kubernetes rounds a quantity up to the
//! smallest unit it is asked in (`0.1` cpu is exactly 100m, `1.5Ki` is 1536 bytes, `1n` cpu is 1m),
//! so the arithmetic here is decimal, never floating point.

/// The quantity in units of `1 / scale` (scale 1000: milli-units; 1: whole units), rounded up.
/// `None` when `q` is not a quantity or does not fit in an `i64`.
pub fn scaled(q: &str, scale: i64) -> Option<i64> {
    let q = q.trim();
    let (negative, rest) = match q.as_bytes().first() {
        Some(b'-') => (true, &q[1..]),
        Some(b'+') => (false, &q[1..]),
        _ => (false, q),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut digits: i128 = 0;
    for c in whole.chars().chain(fraction.chars()) {
        digits = digits
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
    }
    let (decimal_exp, binary_exp): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        s if s.starts_with(['e', 'E']) => (s[1..].parse::<i32>().ok()?, 0),
        _ => return None,
    };
    let exp = decimal_exp - i32::try_from(fraction.len()).ok()?;
    let pow10 = |e: i32| 10i128.checked_pow(e.unsigned_abs());
    let mut numerator = digits
        .checked_mul(1024i128.checked_pow(binary_exp)?)?
        .checked_mul(i128::from(scale))?;
    let mut denominator: i128 = 1;
    if exp >= 0 {
        numerator = numerator.checked_mul(pow10(exp)?)?;
    } else {
        denominator = pow10(exp)?;
    }
    let mut value = numerator / denominator;
    if numerator % denominator != 0 {
        value += 1;
    }
    if negative {
        value = -value;
    }
    i64::try_from(value).ok()
}

/// Millicores (or milli-units) of a quantity, rounded up.
pub fn milli(q: &str) -> Option<i64> {
    scaled(q, 1000)
}

/// Whole units (bytes for memory) of a quantity, rounded up.
pub fn units(q: &str) -> Option<i64> {
    scaled(q, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_are_exact_millicores() {
        for (q, m) in [
            ("1", 1000),
            ("0.1", 100),
            ("100m", 100),
            ("1.5", 1500),
            ("250m", 250),
            ("1n", 1),
            ("1500000n", 2),
            ("2k", 2_000_000),
            ("1e3", 1_000_000),
            ("1E-3", 1),
            (".5", 500),
            ("+2", 2000),
            ("-1", -1000),
        ] {
            assert_eq!(milli(q), Some(m), "{q}");
        }
    }

    #[test]
    fn memory_quantities_are_exact_bytes() {
        for (q, b) in [
            ("128Mi", 128 * 1024 * 1024),
            ("1Gi", 1 << 30),
            ("1.5Ki", 1536),
            ("1G", 1_000_000_000),
            ("500", 500),
            ("0.5", 1),
            ("129M", 129_000_000),
            ("1Ei", 1 << 60),
        ] {
            assert_eq!(units(q), Some(b), "{q}");
        }
    }

    #[test]
    fn what_is_not_a_quantity_is_none() {
        for q in [
            "",
            "Mi",
            "1X",
            "1.2.3",
            "abc",
            "1e",
            "--1",
            "1 Gi",
            "99999999999Ei",
        ] {
            assert_eq!(units(q), None, "{q}");
        }
    }
}
