//! A container log kept in a file on this host (the process runtime's): read it whole or
//! from its last lines, and follow what is appended until the container ends.

use super::LogStream;
use bytes::Bytes;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The last `n` lines of `text`.
pub fn tail(text: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &text[i + 1..];
            }
        }
    }
    text
}

/// Says whether the container writing the file still runs.
pub type StillRunning = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The file's content (its last `tail_lines` when given), then, when `follow` is set, what is
/// appended until `running` says the container ended.
pub async fn read(
    path: PathBuf,
    tail_lines: Option<usize>,
    follow: Option<StillRunning>,
) -> LogStream {
    let mut content = tokio::fs::read(&path).await.unwrap_or_default();
    let offset = content.len() as u64;
    if let Some(n) = tail_lines {
        content = tail(&content, n).to_vec();
    }
    let first = futures::stream::once(async move { Ok(Bytes::from(content)) });
    let Some(running) = follow else {
        return Box::pin(first);
    };
    let rest = futures::stream::unfold(
        (Some(offset), path, running),
        |(offset, path, running)| async move {
            let mut offset = offset?;
            loop {
                // Asked before the size is read, so output written just before the end is
                // still delivered.
                let alive = running().await;
                let len = tokio::fs::metadata(&path)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                if len < offset {
                    offset = 0; // rotated
                }
                if len > offset {
                    let mut f = tokio::fs::File::open(&path).await.ok()?;
                    f.seek(std::io::SeekFrom::Start(offset)).await.ok()?;
                    let mut buf = Vec::new();
                    f.read_to_end(&mut buf).await.ok()?;
                    let next = offset + buf.len() as u64;
                    return Some((Ok(Bytes::from(buf)), (Some(next), path, running)));
                }
                if !alive {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        },
    );
    Box::pin(futures::StreamExt::chain(first, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }
}
