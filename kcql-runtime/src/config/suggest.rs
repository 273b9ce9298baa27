//! "Did you mean …?" for configuration keys.

/// Levenshtein distance over characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `key` (edit distance at most 2, case-insensitive), if any.
pub fn closest<'k>(key: &str, candidates: &[&'k str]) -> Option<&'k str> {
    closest_within(key, candidates, 2)
}

/// The candidate closest to `key` within edit distance `max` (case-insensitive), if any.
pub fn closest_within<'k>(key: &str, candidates: &[&'k str], max: usize) -> Option<&'k str> {
    let lower = key.to_ascii_lowercase();
    candidates
        .iter()
        .map(|k| (distance(&lower, k), *k))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_near_misses_only() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(closest("URl", &["url", "db"]), Some("url"));
        assert_eq!(closest("databse", &["database", "db"]), Some("database"));
        assert_eq!(closest("zzzzzz", &["url", "db"]), None);
    }
}
