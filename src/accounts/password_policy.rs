//! The password policy of passwords people choose themselves (sign-up, the account page):
//! a minimum length, a zxcvbn strength score, and never the username inside. Passwords an
//! operator sets through the admin API or the CLI keep only the store's 8–1024 rule: the
//! operator chose them (often random) and hands them over.

use crate::config::Settings;

/// zxcvbn's cost grows faster than linearly with the input: only this many characters are
/// scored (a longer password is at least as strong as its first 100 characters, which is
/// what zxcvbn's own authors recommend).
const SCORED_CHARS: usize = 100;

/// Why a chosen password is refused: a sentence for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRefusal(pub String);

impl std::fmt::Display for PolicyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub min_score: u8,
}

impl PasswordPolicy {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            min_length: settings.password_min_length,
            min_score: settings.password_min_score,
        }
    }

    /// Checks `password` chosen by (or for) `username`. Cheap checks first; the zxcvbn
    /// estimate (a few milliseconds) runs on a blocking thread, off the async workers.
    pub async fn check(&self, username: &str, password: &str) -> Result<(), PolicyRefusal> {
        let len = password.chars().count();
        if len < self.min_length {
            return Err(PolicyRefusal(format!(
                "Choose a password of at least {} characters.",
                self.min_length
            )));
        }
        if len > 1024 {
            return Err(PolicyRefusal(
                "Choose a password of at most 1024 characters.".into(),
            ));
        }
        let name = username.trim().to_lowercase();
        if !name.is_empty() && password.to_lowercase().contains(&name) {
            return Err(PolicyRefusal(
                "The password must not contain the username.".into(),
            ));
        }
        let scored: String = password.chars().take(SCORED_CHARS).collect();
        let inputs = [name];
        let min_score = self.min_score;
        let verdict = tokio::task::spawn_blocking(move || {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let estimate = zxcvbn::zxcvbn(&scored, &inputs);
            if u8::from(estimate.score()) >= min_score {
                return Ok(());
            }
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .filter(|w| !w.is_empty());
            Err(match hint {
                Some(w) => {
                    format!("This password is too easy to guess: {w} Add more words or characters.")
                }
                None => {
                    "This password is too easy to guess. Add more words or characters.".to_string()
                }
            })
        })
        .await
        .map_err(|_| PolicyRefusal("The password could not be checked. Try again.".into()))?;
        verdict.map_err(PolicyRefusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 12,
            min_score: 3,
        }
    }

    #[tokio::test]
    async fn refuses_short_guessable_and_username_passwords() {
        let p = policy();
        assert!(
            p.check("alice", "short")
                .await
                .unwrap_err()
                .0
                .contains("12")
        );
        assert!(
            p.check("alice", "passwordpassword")
                .await
                .unwrap_err()
                .0
                .contains("too easy")
        );
        assert!(
            p.check("alice", "xq-ALICE-84-tundra-vole")
                .await
                .unwrap_err()
                .0
                .contains("username")
        );
        assert!(p.check("alice", "tundra vole quartz lantern").await.is_ok());
        // The score is estimated on the first 100 characters only (bounded work).
        let long = format!("tundra vole quartz lantern {}", "x".repeat(900));
        assert!(p.check("alice", &long).await.is_ok());
        assert!(
            p.check("alice", &"x".repeat(1025))
                .await
                .unwrap_err()
                .0
                .contains("1024")
        );
    }
}
