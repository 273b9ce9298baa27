//! "Did you mean …?" for configuration keys.

/// The edit distance used for suggestions: kcql's (optimal string alignment, so a swapped
/// pair of letters counts as one edit).
pub use kcql::keyword::edit_distance as distance;

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
