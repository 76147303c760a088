//! OpenSSH's wildcard patterns (`*`, `?`) and pattern lists (`a,!b,c*`), used by
//! `ssh_config` (`Host`, `Match`) and `known_hosts`.
//!
//! Matching runs in time linear in the pattern times the input (a set of states, as
//! OpenSSH's `match_pattern` does), so no pattern can make it slow.

/// Does `s` match `pattern` (`*` any run, `?` any one character)? Case-sensitive.
pub fn matches(s: &str, pattern: &str) -> bool {
    let pattern = pattern.as_bytes();
    let m = pattern.len();
    // states[i]: pattern[..i] can match what was read so far.
    let mut states = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    states[0] = true;
    close(&mut states, pattern);
    for &c in s.as_bytes() {
        next.iter_mut().for_each(|n| *n = false);
        let mut any = false;
        for i in 0..m {
            if !states[i] {
                continue;
            }
            match pattern[i] {
                b'*' => next[i] = true,
                p if p == b'?' || p == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next, pattern);
        std::mem::swap(&mut states, &mut next);
        for state in &states {
            any |= *state;
        }
        if !any {
            return false;
        }
    }
    states[m]
}

/// A `*` may match nothing: from a state before it, the state after it is reachable.
fn close(states: &mut [bool], pattern: &[u8]) {
    for i in 0..pattern.len() {
        if states[i] && pattern[i] == b'*' {
            states[i + 1] = true;
        }
    }
}

/// How a comma-separated list of patterns (each maybe `!`-negated) judges a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMatch {
    /// A negated pattern matched: the list rejects the string outright.
    Negated,
    /// A positive pattern matched and no negated one did.
    Positive,
    /// Nothing matched.
    None,
}

/// OpenSSH's `match_pattern_list`: a negated match wins over any positive one.
/// With `lowercase`, patterns are lowercased first (host names compare that way).
pub fn match_list(s: &str, list: &str, lowercase: bool) -> ListMatch {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        let hit = if lowercase {
            matches(s, &pattern.to_ascii_lowercase())
        } else {
            matches(s, pattern)
        };
        if hit {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive { ListMatch::Positive } else { ListMatch::None }
}

/// OpenSSH's `match_hostname`: the host lowercased against the list lowercased.
pub fn match_hostname(host: &str, list: &str) -> bool {
    match_list(&host.to_ascii_lowercase(), list, true) == ListMatch::Positive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (s, p, want) in [
            ("db.corp", "*.corp", true),
            ("corp", "*.corp", false),
            ("a", "?", true),
            ("", "*", true),
            ("", "", true),
            ("x", "", false),
            ("abc", "a*c", true),
            ("abc", "a*b", false),
            ("aXbYc", "a*b*c", true),
            ("Host", "host", false),
        ] {
            assert_eq!(matches(s, p), want, "{s:?} ~ {p:?}");
        }
    }

    #[test]
    fn many_stars_end() {
        // Backtracking takes exponential time on these (13 stars took over a minute);
        // the set of states takes pattern × input steps.
        let pattern = "*a".repeat(200) + "b";
        assert!(!matches(&"a".repeat(5_000), &pattern));
        assert!(matches("anything", &"*".repeat(30_000)));
    }

    #[test]
    fn lists_and_negation() {
        assert_eq!(match_list("db.corp", "*.corp,!bad.corp", false), ListMatch::Positive);
        assert_eq!(match_list("bad.corp", "*.corp,!bad.corp", false), ListMatch::Negated);
        assert_eq!(match_list("x.org", "*.corp", false), ListMatch::None);
        assert!(match_hostname("DB.Corp", "db.CORP"));
    }
}
