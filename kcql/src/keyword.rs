//! Keywords: the reference's reserved words, the clause keywords after `FROM`, and
//! "did you mean" suggestions for near misses.

use serde::{Deserialize, Serialize};

/// The reference grammar's reserved words. In the reference only the all-lower and all-UPPER
/// spellings are keywords; as names (tables, topics, columns) those two spellings are rejected
/// and must be backticked. Keywords themselves are recognised in any letter case.
pub const RESERVED: &[&str] = &[
    "INSERT",
    "UPSERT",
    "INTO",
    "SELECT",
    "FROM",
    "IGNORE",
    "AS",
    "AUTOCREATE",
    "AUTOEVOLVE",
    "BATCH",
    "PARTITIONBY",
    "NOPARTITION",
    "WITHTIMESTAMP",
    "WITHTAG",
    "WITHKEY",
    "KEYDELIMITER",
    "WITHSTRUCTURE",
    "WITHTYPE",
    "PK",
    "WITHFORMAT",
    "WITHUNWRAP",
    "STOREAS",
    "LIMIT",
    "INCREMENTALMODE",
    "WITHDOCTYPE",
    "WITHINDEXSUFFIX",
    "WITHCONVERTER",
    "WITHJMSSELECTOR",
    "WITHTARGET",
    "WITHSUBSCRIPTION",
    "TIMESTAMPUNIT",
    "WITHPIPELINE",
    "WITHREGEX",
    "TTL",
    "PROPERTIES",
];

/// The reserved word `word` spells (in any letter case), found by length and first letter
/// first so that the common case, an ordinary name, costs two jumps and a byte compare.
fn reserved_match(word: &str) -> Option<&'static str> {
    let b = word.as_bytes();
    let first = b.first()?.to_ascii_uppercase();
    let candidates: &[&'static str] = match (b.len(), first) {
        (2, b'A') => &["AS"],
        (2, b'P') => &["PK"],
        (3, b'T') => &["TTL"],
        (4, b'I') => &["INTO"],
        (4, b'F') => &["FROM"],
        (5, b'B') => &["BATCH"],
        (5, b'L') => &["LIMIT"],
        (6, b'I') => &["INSERT", "IGNORE"],
        (6, b'U') => &["UPSERT"],
        (6, b'S') => &["SELECT"],
        (7, b'W') => &["WITHTAG", "WITHKEY"],
        (7, b'S') => &["STOREAS"],
        (8, b'W') => &["WITHTYPE"],
        (9, b'W') => &["WITHREGEX"],
        (10, b'A') => &["AUTOCREATE", "AUTOEVOLVE"],
        (10, b'W') => &["WITHFORMAT", "WITHUNWRAP", "WITHTARGET"],
        (10, b'P') => &["PROPERTIES"],
        (11, b'P') => &["PARTITIONBY"],
        (11, b'N') => &["NOPARTITION"],
        (11, b'W') => &["WITHDOCTYPE"],
        (12, b'K') => &["KEYDELIMITER"],
        (12, b'W') => &["WITHPIPELINE"],
        (13, b'W') => &["WITHTIMESTAMP", "WITHSTRUCTURE", "WITHCONVERTER"],
        (13, b'T') => &["TIMESTAMPUNIT"],
        (15, b'I') => &["INCREMENTALMODE"],
        (15, b'W') => &["WITHINDEXSUFFIX", "WITHJMSSELECTOR"],
        (16, b'W') => &["WITHSUBSCRIPTION"],
        _ => return None,
    };
    candidates
        .iter()
        .copied()
        .find(|c| eq_letters(b, c.as_bytes()))
}

/// True when `word` spells `upper` (upper-case ASCII letters only) in any letter case. Clearing
/// bit 5 maps exactly a letter's two cases onto its upper case, so one mask and compare per byte
/// does what `eq_ignore_ascii_case` does in several.
#[inline]
fn eq_letters(word: &[u8], upper: &[u8]) -> bool {
    debug_assert!(upper.iter().all(u8::is_ascii_uppercase));
    word.len() == upper.len() && word.iter().zip(upper).all(|(w, u)| w & !0x20 == *u)
}

/// True when `word` is a reserved word spelled all-lower or all-UPPER (so it cannot be a name).
#[inline]
pub fn is_reserved(word: &str) -> bool {
    reserved_match(word).is_some()
        && (!word.bytes().any(|b| b.is_ascii_uppercase())
            || !word.bytes().any(|b| b.is_ascii_lowercase()))
}

/// True when `word` equals any keyword (reserved or extension) in any letter case. The printer
/// backticks such names so that printed text always parses back to the same statement.
pub fn is_keyword_like(word: &str) -> bool {
    reserved_match(word).is_some() || EXTENSION_WORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Words that are keywords only in the positions of the language extensions (WHERE, GROUP BY,
/// WINDOW …). They stay valid names everywhere else, so reference KCQL keeps its meaning.
pub const EXTENSION_WORDS: &[&str] = &[
    "WHERE",
    "GROUP",
    "BY",
    "WINDOW",
    "TUMBLING",
    "HOPPING",
    "GRACE",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "IN",
    "LIKE",
    "TRUE",
    "FALSE",
    "WITHRETENTION",
    "SYS_TIME",
];

/// A clause that may follow `FROM <source>`. Each may appear at most once, in any order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClauseKind {
    /// `IGNORE a, b`
    Ignore,
    /// `AUTOCREATE`
    Autocreate,
    /// `WITHSTRUCTURE`
    WithStructure,
    /// `PK a, b`
    Pk,
    /// `WITHTARGET = a.b`
    WithTarget,
    /// `AUTOEVOLVE`
    Autoevolve,
    /// `BATCH = n`
    Batch,
    /// `PARTITIONBY a, b`
    PartitionBy,
    /// `NOPARTITION`
    NoPartition,
    /// `WITHTIMESTAMP f | sys_time()`
    WithTimestamp,
    /// `TIMESTAMPUNIT = SECONDS`
    TimestampUnit,
    /// `WITHFORMAT json`
    WithFormat,
    /// `WITHUNWRAP`
    WithUnwrap,
    /// `STOREAS type (k = v, …)`
    StoreAs,
    /// `WITHTAG (a, k = v, f AS t)`
    WithTag,
    /// `INCREMENTALMODE = m`
    IncrementalMode,
    /// `WITHTYPE t`
    WithType,
    /// `WITHDOCTYPE = d`
    WithDocType,
    /// `WITHINDEXSUFFIX = s`
    WithIndexSuffix,
    /// `TTL = n`
    Ttl,
    /// ``WITHCONVERTER = `c` ``
    WithConverter,
    /// ``WITHJMSSELECTOR = `j` ``
    WithJmsSelector,
    /// `WITHKEY (a, b)`
    WithKey,
    /// `KEYDELIMITER = '|'`
    KeyDelimiter,
    /// `WITHPIPELINE = p`
    WithPipeline,
    /// `WITHSUBSCRIPTION = s`
    WithSubscription,
    /// ``WITHREGEX = `r` ``
    WithRegex,
    /// `LIMIT n`
    Limit,
    /// `PROPERTIES (k = v, …)`
    Properties,
    /// `WHERE <expr>` (extension)
    Where,
    /// `GROUP BY a, b` (extension)
    GroupBy,
    /// `WINDOW TUMBLING(2s)` (extension)
    Window,
    /// `WITHRETENTION = p` (extension)
    WithRetention,
}

impl ClauseKind {
    /// Every clause (the extensions last).
    pub const ALL: [ClauseKind; 33] = [
        ClauseKind::Ignore,
        ClauseKind::Autocreate,
        ClauseKind::WithStructure,
        ClauseKind::Pk,
        ClauseKind::WithTarget,
        ClauseKind::Autoevolve,
        ClauseKind::Batch,
        ClauseKind::PartitionBy,
        ClauseKind::NoPartition,
        ClauseKind::WithTimestamp,
        ClauseKind::TimestampUnit,
        ClauseKind::WithFormat,
        ClauseKind::WithUnwrap,
        ClauseKind::StoreAs,
        ClauseKind::WithTag,
        ClauseKind::IncrementalMode,
        ClauseKind::WithType,
        ClauseKind::WithDocType,
        ClauseKind::WithIndexSuffix,
        ClauseKind::Ttl,
        ClauseKind::WithConverter,
        ClauseKind::WithJmsSelector,
        ClauseKind::WithKey,
        ClauseKind::KeyDelimiter,
        ClauseKind::WithPipeline,
        ClauseKind::WithSubscription,
        ClauseKind::WithRegex,
        ClauseKind::Limit,
        ClauseKind::Properties,
        ClauseKind::Where,
        ClauseKind::GroupBy,
        ClauseKind::Window,
        ClauseKind::WithRetention,
    ];

    /// The clause's keyword, upper case.
    pub const fn keyword(self) -> &'static str {
        match self {
            ClauseKind::Ignore => "IGNORE",
            ClauseKind::Autocreate => "AUTOCREATE",
            ClauseKind::WithStructure => "WITHSTRUCTURE",
            ClauseKind::Pk => "PK",
            ClauseKind::WithTarget => "WITHTARGET",
            ClauseKind::Autoevolve => "AUTOEVOLVE",
            ClauseKind::Batch => "BATCH",
            ClauseKind::PartitionBy => "PARTITIONBY",
            ClauseKind::NoPartition => "NOPARTITION",
            ClauseKind::WithTimestamp => "WITHTIMESTAMP",
            ClauseKind::TimestampUnit => "TIMESTAMPUNIT",
            ClauseKind::WithFormat => "WITHFORMAT",
            ClauseKind::WithUnwrap => "WITHUNWRAP",
            ClauseKind::StoreAs => "STOREAS",
            ClauseKind::WithTag => "WITHTAG",
            ClauseKind::IncrementalMode => "INCREMENTALMODE",
            ClauseKind::WithType => "WITHTYPE",
            ClauseKind::WithDocType => "WITHDOCTYPE",
            ClauseKind::WithIndexSuffix => "WITHINDEXSUFFIX",
            ClauseKind::Ttl => "TTL",
            ClauseKind::WithConverter => "WITHCONVERTER",
            ClauseKind::WithJmsSelector => "WITHJMSSELECTOR",
            ClauseKind::WithKey => "WITHKEY",
            ClauseKind::KeyDelimiter => "KEYDELIMITER",
            ClauseKind::WithPipeline => "WITHPIPELINE",
            ClauseKind::WithSubscription => "WITHSUBSCRIPTION",
            ClauseKind::WithRegex => "WITHREGEX",
            ClauseKind::Limit => "LIMIT",
            ClauseKind::Properties => "PROPERTIES",
            ClauseKind::Where => "WHERE",
            ClauseKind::GroupBy => "GROUP BY",
            ClauseKind::Window => "WINDOW",
            ClauseKind::WithRetention => "WITHRETENTION",
        }
    }

    /// The clause whose (first) keyword is `word`, in any letter case (`GROUP` for GROUP BY).
    /// Found by length and first letter first: this runs on the word after every clause.
    pub fn from_word(word: &str) -> Option<ClauseKind> {
        use ClauseKind::*;
        let b = word.as_bytes();
        let candidates: &[ClauseKind] = match (b.len(), b.first()?.to_ascii_uppercase()) {
            (2, b'P') => &[Pk],
            (3, b'T') => &[Ttl],
            (5, b'B') => &[Batch],
            (5, b'L') => &[Limit],
            (5, b'W') => &[Where],
            (5, b'G') => &[GroupBy],
            (6, b'I') => &[Ignore],
            (6, b'W') => &[Window],
            (7, b'S') => &[StoreAs],
            (7, b'W') => &[WithTag, WithKey],
            (8, b'W') => &[WithType],
            (9, b'W') => &[WithRegex],
            (10, b'A') => &[Autocreate, Autoevolve],
            (10, b'W') => &[WithTarget, WithFormat, WithUnwrap],
            (10, b'P') => &[Properties],
            (11, b'P') => &[PartitionBy],
            (11, b'N') => &[NoPartition],
            (11, b'W') => &[WithDocType],
            (12, b'K') => &[KeyDelimiter],
            (12, b'W') => &[WithPipeline],
            (13, b'W') => &[WithStructure, WithTimestamp, WithConverter, WithRetention],
            (13, b'T') => &[TimestampUnit],
            (15, b'I') => &[IncrementalMode],
            (15, b'W') => &[WithIndexSuffix, WithJmsSelector],
            (16, b'W') => &[WithSubscription],
            _ => return None,
        };
        candidates
            .iter()
            .copied()
            .find(|c| eq_letters(b, c.first_word().as_bytes()))
    }

    /// The clause's first keyword (`GROUP` for GROUP BY), upper case.
    const fn first_word(self) -> &'static str {
        match self {
            ClauseKind::GroupBy => "GROUP",
            c => c.keyword(),
        }
    }

    /// Position in [`ClauseKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ClauseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The candidate closest to `word` (case-insensitive Damerau–Levenshtein distance), if it is
/// close enough to be a plausible typo: at most 2 edits, and fewer than half the word's length.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let upper = word.to_ascii_uppercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = edit_distance(&upper, cand);
        if d == 0 {
            continue;
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    let (d, cand) = best?;
    let limit = 2.min(upper.len().max(cand.len()) / 2);
    if d <= limit
        || (cand.starts_with(&upper) && upper.len() >= 4)
        || (upper.starts_with(cand) && cand.len() >= 4)
    {
        Some(cand)
    } else {
        None
    }
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions) between two
/// ASCII-ish strings, byte by byte. The one edit distance of kcql: keyword suggestions here,
/// configuration-key suggestions in the runtime.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_only_in_uniform_case() {
        assert!(is_reserved("limit"));
        assert!(is_reserved("LIMIT"));
        assert!(!is_reserved("Limit"));
        assert!(!is_reserved("limits"));
    }

    #[test]
    fn reserved_table_matches_the_list() {
        for k in RESERVED {
            assert!(is_reserved(k), "{k}");
            assert!(is_reserved(&k.to_ascii_lowercase()), "{k}");
        }
        assert!(!is_reserved("WITHTAGS"));
        assert_eq!(
            RESERVED
                .iter()
                .filter(|k| reserved_match(k).is_some())
                .count(),
            RESERVED.len()
        );
        assert!(!is_reserved("a"));
    }

    #[test]
    fn clause_lookup_is_case_insensitive() {
        for c in ClauseKind::ALL {
            let first = c.keyword().split(' ').next().unwrap_or_default();
            assert_eq!(ClauseKind::from_word(first), Some(c));
            assert_eq!(ClauseKind::from_word(&first.to_ascii_lowercase()), Some(c));
        }
        assert_eq!(ClauseKind::from_word("WithTag"), Some(ClauseKind::WithTag));
        assert_eq!(ClauseKind::from_word("withtags"), None);
        for (i, c) in ClauseKind::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn suggestions_for_near_misses() {
        let clauses = ClauseKind::ALL.iter().map(|c| c.keyword());
        assert_eq!(suggest("WITHTAGS", clauses.clone()), Some("WITHTAG"));
        assert_eq!(
            suggest("withtimestmp", clauses.clone()),
            Some("WITHTIMESTAMP")
        );
        assert_eq!(suggest("PARTITION", clauses.clone()), Some("PARTITIONBY"));
        assert_eq!(suggest("LIMT", clauses.clone()), Some("LIMIT"));
        assert_eq!(suggest("banana", clauses), None);
    }
}
