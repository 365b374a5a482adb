//! Which windows a session shares, until the dialog lets the user pick:
//! the policy rule names them by app id and title.

use serde::Deserialize;

/// A window named in a policy rule: `{ app_id = "org.gnome.Terminal" }`,
/// `{ title = "*- Mozilla Firefox" }`, or both (both must match). `*` in a
/// title matches any run of characters; app ids match exactly.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowMatch {
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

/// A listed window: (identifier, app id, title).
pub type ListedWindow<'a> = (&'a str, &'a str, &'a str);

impl WindowMatch {
    /// A match that names nothing would share any window: refused when
    /// the policy is parsed.
    pub fn is_empty(&self) -> bool {
        self.app_id.is_none() && self.title.is_none()
    }

    pub fn matches(&self, app_id: &str, title: &str) -> bool {
        !self.is_empty()
            && self.app_id.as_deref().is_none_or(|a| a == app_id)
            && self.title.as_deref().is_none_or(|t| glob(t, title))
    }
}

/// The identifiers of the windows to share, in the rule's order: with
/// `multiple`, every listed window some entry matches; without, the first
/// listed window of the first entry that matches one.
pub fn choose_windows(
    rule: &[WindowMatch],
    listed: &[ListedWindow<'_>],
    multiple: bool,
) -> Vec<String> {
    let mut chosen: Vec<String> = Vec::new();
    for m in rule {
        for (id, app_id, title) in listed {
            if m.matches(app_id, title) && !chosen.iter().any(|c| c == id) {
                if !multiple {
                    return vec![(*id).to_owned()];
                }
                chosen.push((*id).to_owned());
            }
        }
    }
    chosen
}

/// `*` matches any run of characters (also none); everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole text must be the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(app_id: Option<&str>, title: Option<&str>) -> WindowMatch {
        WindowMatch {
            app_id: app_id.map(Into::into),
            title: title.map(Into::into),
        }
    }

    #[test]
    fn globs() {
        assert!(glob("abc", "abc"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("*", ""));
        assert!(glob("a*", "abc"));
        assert!(glob("*c", "abc"));
        assert!(!glob("*b", "abc"));
        assert!(glob("a*c", "ac"));
        assert!(glob("*- Firefox", "Page - Firefox"));
        assert!(glob("a*b*c", "a--b--c"));
        assert!(!glob("a*b*c", "a--c--b"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn matches_need_every_given_field_and_at_least_one() {
        assert!(m(Some("x"), None).matches("x", "anything"));
        assert!(!m(Some("x"), None).matches("y", "anything"));
        assert!(m(Some("x"), Some("T*")).matches("x", "Title"));
        assert!(!m(Some("x"), Some("T*")).matches("x", "other"));
        assert!(!m(None, None).matches("x", "y"));
    }

    #[test]
    fn choice_follows_the_rule_order_and_multiple() {
        let listed = [
            ("1", "term", "shell"),
            ("2", "editor", "notes"),
            ("3", "term", "logs"),
        ];
        let rule = [m(Some("editor"), None), m(Some("term"), None)];
        assert_eq!(choose_windows(&rule, &listed, false), vec!["2"]);
        assert_eq!(choose_windows(&rule, &listed, true), vec!["2", "1", "3"]);
        assert!(choose_windows(&[m(Some("none"), None)], &listed, true).is_empty());
        assert!(choose_windows(&[], &listed, true).is_empty());
    }
}
