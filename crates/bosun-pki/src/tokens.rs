//! Static bearer tokens in Kubernetes' token-file format: `token,user,uid,"group1,group2"`.

use crate::{PkiError, User, write_private};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    token: String,
    user: User,
}

/// The token file's entries. Cheap to clone.
#[derive(Clone)]
pub struct TokenFile {
    entries: Arc<Vec<Entry>>,
    path: PathBuf,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .field("users", &self.entries.len())
            .finish()
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    // token,user,uid[,"g1,g2"]
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    let token = fields.first()?.trim().to_string();
    let name = fields.get(1)?.trim().to_string();
    if token.is_empty() || name.is_empty() {
        return None;
    }
    let uid = fields
        .get(2)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| name.clone());
    let groups = fields
        .get(3)
        .map(|g| {
            g.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Some(Entry {
        token,
        user: User { name, uid, groups },
    })
}

fn format_line(e: &Entry) -> String {
    format!(
        "{},{},{},\"{}\"\n",
        e.token,
        e.user.name,
        e.user.uid,
        e.user.groups.join(",")
    )
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenFile {
    /// Read a token file; a missing file or a malformed line is an error naming the file.
    pub fn load(path: &Path) -> Result<Self, PkiError> {
        let text = std::fs::read_to_string(path).map_err(|source| PkiError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let entry = parse_line(line).ok_or_else(|| PkiError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("line {}: expected token,user,uid,\"groups\"", i + 1),
            })?;
            entries.push(entry);
        }
        Ok(Self {
            entries: Arc::new(entries),
            path: path.to_path_buf(),
        })
    }

    /// Load `path` (creating it if absent) and make sure each of `users` has a token.
    pub fn load_or_create(path: &Path, users: &[User]) -> Result<Self, PkiError> {
        let mut file = if path.exists() {
            Self::load(path)?
        } else {
            Self {
                entries: Arc::default(),
                path: path.to_path_buf(),
            }
        };
        let missing: Vec<&User> = users
            .iter()
            .filter(|u| file.token_for(&u.name).is_none())
            .collect();
        if !missing.is_empty() || !path.exists() {
            let mut entries = (*file.entries).clone();
            entries.extend(missing.into_iter().map(|u| Entry {
                token: new_token(),
                user: u.clone(),
            }));
            let text: String = entries.iter().map(format_line).collect();
            write_private(path, &text)?;
            file.entries = Arc::new(entries);
        }
        Ok(file)
    }

    pub fn token_for(&self, user_name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.user.name == user_name)
            .map(|e| e.token.as_str())
    }

    /// The user a bearer token belongs to. Compares in constant time per entry.
    pub fn authenticate(&self, bearer: &str) -> Option<User> {
        let mut found = None;
        for e in self.entries.iter() {
            if constant_time_eq(e.token.as_bytes(), bearer.as_bytes()) {
                found = Some(e.user.clone());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_created_once_and_authenticate_their_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let users = [crate::admin_user(), crate::node_user("n1")];
        let first = TokenFile::load_or_create(&path, &users).expect("create");
        let again = TokenFile::load_or_create(&path, &users).expect("load");
        let token = first.token_for("admin").expect("admin token").to_string();
        assert_eq!(again.token_for("admin"), Some(token.as_str()));
        let user = again.authenticate(&token).expect("authenticates");
        assert_eq!(user.groups, vec!["system:masters", "system:authenticated"]);
        assert!(again.authenticate("wrong").is_none());
        assert!(again.authenticate("").is_none());
        assert_eq!(
            again
                .authenticate(again.token_for("system:node:n1").expect("node"))
                .map(|u| u.name),
            Some("system:node:n1".into())
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_malformed_token_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "just-a-token\n").expect("write");
        let err = TokenFile::load(&path).expect_err("malformed");
        assert!(
            err.to_string().contains("tokens.csv") && err.to_string().contains("line 1"),
            "{err}"
        );
    }
}
