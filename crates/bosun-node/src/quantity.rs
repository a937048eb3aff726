//! Resource quantities (`500m`, `1.5`, `64Mi`, `1e3`) as the numbers a runtime applies,
//! pure: memory in bytes, CPU in millicores (rounded up, as Kubernetes does).

/// The value of a quantity in base units, or `None` when it is not a quantity.
pub fn value(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "Pi" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "Ei" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let v = n * factor;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A memory quantity in bytes.
pub fn bytes(q: &str) -> Option<i64> {
    value(q).map(|v| v.ceil() as i64)
}

/// A CPU quantity in millicores.
pub fn millicores(q: &str) -> Option<i64> {
    // Round before ceil so that 0.1 * 1000 stays 100.
    value(q).map(|v| ((v * 1000.0 * 1e6).round() / 1e6).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities_in_bytes() {
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("1Gi"), Some(1 << 30));
        assert_eq!(bytes("128974848"), Some(128_974_848));
        assert_eq!(bytes("129M"), Some(129_000_000));
        assert_eq!(bytes("123Mi"), Some(123 << 20));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("1.5Ki"), Some(1536));
        assert_eq!(bytes("lots"), None);
        assert_eq!(bytes("12Xi"), None);
        assert_eq!(bytes("-1"), None);
    }

    #[test]
    fn cpu_quantities_in_millicores_rounded_up() {
        assert_eq!(millicores("500m"), Some(500));
        assert_eq!(millicores("1"), Some(1000));
        assert_eq!(millicores("0.1"), Some(100));
        assert_eq!(millicores("1.5"), Some(1500));
        assert_eq!(millicores("250000u"), Some(250));
        assert_eq!(millicores("1n"), Some(1));
        assert_eq!(millicores("2k"), Some(2_000_000));
    }
}
