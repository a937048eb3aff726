//! Static bearer tokens in Kubernetes' token-file format (`--token-auth-file`): one CSV record
//! per line, `token,user,uid,"group1,group2"`. As in Kubernetes, a record needs at least the
//! first three columns and the groups column is optional; fields may be quoted, with `""` for a
//! quote inside. Blank lines and lines starting with `#` are skipped.

use crate::certs::AUTHENTICATED_GROUP;
use crate::files::{self, PRIVATE};
use crate::{PkiError, Result, User};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    token: String,
    user: User,
}

/// The entries of a token file. Cheap to clone; never shows a token in `Debug`.
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

impl TokenFile {
    /// Read a token file. A missing file, or a line that is no `token,user,uid[,groups]`
    /// record, is an error naming the file (and the line).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(files::io_error(path))?;
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let entry = parse_record(line)
                .map_err(|reason| files::corrupt(path, format!("line {}: {reason}", i + 1)))?;
            entries.push(entry);
        }
        Ok(Self {
            entries: Arc::new(entries),
            path: path.to_path_buf(),
        })
    }

    /// Load `path`, creating it (and its directory) if absent, and make sure each of `users`
    /// has a token: a new one is 32 random bytes, base64url. Tokens already in the file are
    /// kept, as are users not in `users`. The file is written with mode 0600, atomically and
    /// under a lock on its directory.
    pub fn load_or_create(path: &Path, users: &[User]) -> Result<Self> {
        for user in users {
            check_writable(user)?;
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        files::create_private_dir(dir)?;
        let _lock = files::lock_dir(dir)?;
        let mut file = if path.exists() {
            Self::load(path)?
        } else {
            Self {
                entries: Arc::default(),
                path: path.to_path_buf(),
            }
        };
        let missing: Vec<Entry> = users
            .iter()
            .filter(|u| file.token_for(&u.name).is_none())
            .map(|u| Entry {
                token: new_token(),
                user: u.clone(),
            })
            .collect();
        if !missing.is_empty() || !path.exists() {
            let mut entries = (*file.entries).clone();
            entries.extend(missing);
            let text: String = entries.iter().map(format_record).collect();
            files::write_atomic(path, &text, PRIVATE)?;
            file.entries = Arc::new(entries);
        }
        Ok(file)
    }

    /// The token of the user named `user_name`, if the file has one.
    pub fn token_for(&self, user_name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.user.name == user_name)
            .map(|e| e.token.as_str())
    }

    /// The user `bearer` belongs to, with `system:authenticated` among its groups; `None` for
    /// an unknown token. Every entry is compared, each in constant time, so the time taken
    /// does not tell how much of a token matched. When a token occurs twice, the later line
    /// wins, as in Kubernetes.
    pub fn authenticate(&self, bearer: &str) -> Option<User> {
        let mut found = None;
        for e in self.entries.iter() {
            if constant_time_eq(e.token.as_bytes(), bearer.as_bytes()) {
                found = Some(&e.user);
            }
        }
        let mut user = found?.clone();
        if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            user.groups.push(AUTHENTICATED_GROUP.to_string());
        }
        Some(user)
    }
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Tokens bosun makes all have one length; only a wrong length returns early.
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A user that fits in a token file line.
fn check_writable(user: &User) -> Result<()> {
    let invalid = |reason: &str| PkiError::InvalidUser {
        name: user.name.clone(),
        reason: reason.to_string(),
    };
    let fields = [&user.name, &user.uid].into_iter().chain(&user.groups);
    if fields.clone().any(|f| f.contains(['\n', '\r'])) {
        return Err(invalid("a line break cannot be written into a token file"));
    }
    if user.name.is_empty() {
        return Err(invalid("an empty name"));
    }
    if user.groups.iter().any(|g| g.is_empty() || g.contains(',')) {
        return Err(invalid("a group that is empty or holds a comma"));
    }
    Ok(())
}

/// One record, parsed as Go's `encoding/csv` with `TrimLeadingSpace` (what Kubernetes uses).
fn parse_record(line: &str) -> Result<Entry, String> {
    let fields = split_csv(line)?;
    if fields.len() < 3 {
        return Err(format!(
            "{} columns; a record is token,user,uid[,\"group1,group2\"]",
            fields.len()
        ));
    }
    let token = fields[0].trim().to_string();
    if token.is_empty() {
        return Err("an empty token".into());
    }
    if fields[1].is_empty() {
        return Err("an empty user name".into());
    }
    let groups = fields
        .get(3)
        .map(|g| {
            g.split(',')
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Ok(Entry {
        token,
        user: User {
            name: fields[1].clone(),
            uid: fields[2].clone(),
            groups,
        },
    })
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        let field;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' if quoted[i + 1..].starts_with('"') => {
                        value.push('"');
                        chars.next();
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or("a quoted field is not closed")?;
            field = value;
            rest = &quoted[end..];
            if !(rest.is_empty() || rest.starts_with(',')) {
                return Err("text after a quoted field".into());
            }
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            if rest[..end].contains('"') {
                return Err("a bare \" in an unquoted field".into());
            }
            field = rest[..end].to_string();
            rest = &rest[end..];
        }
        fields.push(field);
        match rest.strip_prefix(',') {
            Some(r) => rest = r,
            None => return Ok(fields),
        }
    }
}

/// One record, quoted where Go's `encoding/csv` writer quotes; the groups always quoted, as
/// Kubernetes' documentation writes them. A user without groups gets three columns (an empty
/// fourth would be read by Kubernetes as one empty group).
fn format_record(e: &Entry) -> String {
    let mut line = format!(
        "{},{},{}",
        csv_field(&e.token),
        csv_field(&e.user.name),
        csv_field(&e.user.uid)
    );
    if !e.user.groups.is_empty() {
        line.push_str(&format!(
            ",\"{}\"",
            e.user.groups.join(",").replace('"', "\"\"")
        ));
    }
    line.push('\n');
    line
}

fn csv_field(s: &str) -> String {
    let needs_quotes =
        s.contains([',', '"', '\r', '\n']) || s.starts_with(char::is_whitespace) || s == "\\.";
    if needs_quotes {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn groups(u: &User) -> Vec<&str> {
        u.groups.iter().map(String::as_str).collect()
    }

    #[test]
    fn tokens_are_created_once_and_authenticate_their_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let users = [crate::admin_user(), crate::node_user("n1")];
        let first = TokenFile::load_or_create(&path, &users).expect("create");
        let again = TokenFile::load_or_create(&path, &users).expect("load");
        let token = first.token_for("admin").expect("admin token").to_string();
        assert_eq!(again.token_for("admin"), Some(token.as_str()));
        assert_eq!(token.len(), 43, "32 bytes, base64url without padding");
        assert_ne!(first.token_for("admin"), first.token_for("system:node:n1"));

        let admin = again.authenticate(&token).expect("authenticates");
        assert_eq!(admin.name, "admin");
        assert_eq!(groups(&admin), ["system:masters", "system:authenticated"]);
        let node_token = again.token_for("system:node:n1").expect("node");
        let node = again.authenticate(node_token).expect("node authenticates");
        assert_eq!(node.name, "system:node:n1");
        assert_eq!(groups(&node), ["system:nodes", "system:authenticated"]);

        assert_eq!(
            std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn wrong_tokens_authenticate_no_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let file = TokenFile::load_or_create(&path, &[crate::admin_user()]).expect("create");
        let token = file.token_for("admin").expect("token");
        assert!(file.authenticate("wrong").is_none());
        assert!(file.authenticate("").is_none());
        assert!(file.authenticate(&token[1..]).is_none());
        assert!(file.authenticate(&format!("{token}x")).is_none());
        let mut flipped = token.to_string();
        flipped.replace_range(42.., if token.ends_with('A') { "B" } else { "A" });
        assert!(file.authenticate(&flipped).is_none());
    }

    #[test]
    fn a_new_user_gets_a_token_and_old_tokens_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let first = TokenFile::load_or_create(&path, &[crate::admin_user()]).expect("create");
        let more = [crate::admin_user(), crate::scheduler_user()];
        let second = TokenFile::load_or_create(&path, &more).expect("grow");
        assert_eq!(second.token_for("admin"), first.token_for("admin"));
        let scheduler = second
            .token_for("system:kube-scheduler")
            .expect("new token");
        let loaded = TokenFile::load(&path).expect("load");
        assert_eq!(loaded.token_for("system:kube-scheduler"), Some(scheduler));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines()
                .any(|l| l.ends_with(",system:kube-scheduler,system:kube-scheduler")),
            "a user without groups has three columns:\n{text}"
        );
    }

    #[test]
    fn a_hand_written_kubernetes_token_file_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_tokens.csv");
        std::fs::write(
            &path,
            "# written by hand\n\
             31ada4fd-adec-460c-809a-9e56ceb75269,alice,1001,\"devs,ops\"\n\
             \n\
             tok2, bob, 1002\n\
             \"tok,3\",\"carol \"\"c\"\"\",1003,viewers\n",
        )
        .expect("write");
        let file = TokenFile::load(&path).expect("load");
        let alice = file
            .authenticate("31ada4fd-adec-460c-809a-9e56ceb75269")
            .expect("alice");
        assert_eq!(alice.uid, "1001");
        assert_eq!(groups(&alice), ["devs", "ops", "system:authenticated"]);
        let bob = file.authenticate("tok2").expect("bob");
        assert_eq!((bob.name.as_str(), bob.uid.as_str()), ("bob", "1002"));
        assert_eq!(groups(&bob), ["system:authenticated"]);
        let carol = file.authenticate("tok,3").expect("carol");
        assert_eq!(carol.name, "carol \"c\"");
        assert_eq!(groups(&carol), ["viewers", "system:authenticated"]);
    }

    #[test]
    fn names_with_commas_and_quotes_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let odd = User {
            name: "o'brien, \"jr\"".into(),
            uid: " 42".into(),
            groups: vec!["a \"b\"".into(), "c".into()],
        };
        let file = TokenFile::load_or_create(&path, std::slice::from_ref(&odd)).expect("create");
        let token = file.token_for(&odd.name).expect("token").to_string();
        let loaded = TokenFile::load(&path).expect("load");
        let mut want = odd.clone();
        want.groups.push(AUTHENTICATED_GROUP.into());
        assert_eq!(loaded.authenticate(&token), Some(want));
    }

    #[test]
    fn users_that_do_not_fit_a_token_file_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        for user in [
            User::new("line\nbreak", &[]),
            User::new("", &[]),
            User::new("u", &["a,b"]),
        ] {
            assert!(
                matches!(
                    TokenFile::load_or_create(&path, &[user]),
                    Err(PkiError::InvalidUser { .. })
                ),
                "refused"
            );
        }
        assert!(!path.exists(), "nothing was written");
    }

    #[test]
    fn a_malformed_token_file_is_refused_naming_it_and_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        for (text, line) in [
            ("just-a-token\n", 1),
            ("t,u,1\nt2,u2\n", 2),
            ("t,u,1,\"unclosed\n", 1),
            ("t,u\"x,1\n", 1),
            (",u,1\n", 1),
            ("t,,1\n", 1),
            ("t,u,1,\"g\"x\n", 1),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = TokenFile::load(&path).expect_err(text).to_string();
            assert!(
                err.contains("tokens.csv") && err.contains(&format!("line {line}:")),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn a_missing_token_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = TokenFile::load(&dir.path().join("absent.csv")).expect_err("missing");
        assert!(err.to_string().contains("absent.csv"), "{err}");
    }

    #[test]
    fn debug_never_shows_a_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let file = TokenFile::load_or_create(&path, &[crate::admin_user()]).expect("create");
        let token = file.token_for("admin").expect("token");
        assert!(!format!("{file:?}").contains(token));
    }
}
