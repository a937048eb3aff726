//! How etcd's answers map onto the store's [`Error`]: a pure function from an etcd-client error
//! (a gRPC status or a transport failure) to the error group a caller acts on.
//!
//! etcd reports most conditions as a gRPC status whose message is one of the fixed texts of
//! `etcdserver/api/v3rpc/rpctypes`; the message decides where the code alone is ambiguous
//! (`OutOfRange` is both "compacted" and "future revision"). The rules, in order:
//!
//! | etcd says | store error |
//! |---|---|
//! | `mvcc: required revision has been compacted` | [`Error::Compacted`] (compaction point filled in by the caller) |
//! | `mvcc: required revision is a future revision` | [`Error::FutureRevision`] (current revision filled in by the caller) |
//! | `request timed out` (any variant), `DeadlineExceeded` | [`Error::Timeout`]: a write may or may not have been applied |
//! | `request is too large` | [`Error::InvalidArgument`], naming etcd's `--max-request-bytes` |
//! | other `InvalidArgument`, `FailedPrecondition` | [`Error::InvalidArgument`] |
//! | `Unauthenticated`, `PermissionDenied` | [`Error::Fatal`]: bosun does not log in to etcd, retrying cannot help |
//! | `DataLoss` (`corrupt cluster`) | [`Error::Fatal`] |
//! | everything else: `Unavailable` (`no leader`, `leader changed`, `server stopped`, transport errors), `ResourceExhausted` (`too many requests`, `database space exceeded`), `Unknown`, `Internal`, `Cancelled` | [`Error::Unavailable`] |
//!
//! Errors of the client itself (a malformed endpoint) are [`Error::InvalidArgument`]; connection
//! failures are [`Error::Unavailable`].

use bosun_store::{Error, Revision};
use etcd_client as etcd;
use tonic::Code;

/// Map an etcd-client error; `requested` is the revision the failed call named, for the revision
/// errors (whose other revision the caller fills in: etcd's message does not carry it).
pub fn map_err(e: etcd::Error, requested: Revision) -> Error {
    match e {
        etcd::Error::GRpcStatus(status) => map_status(status.code(), status.message(), requested),
        etcd::Error::InvalidArgs(msg) | etcd::Error::EndpointError(msg) => {
            Error::InvalidArgument(format!("etcd client: {msg}"))
        }
        etcd::Error::InvalidUri(e) => Error::InvalidArgument(format!("etcd endpoint: {e}")),
        other => Error::Unavailable(format!("etcd: {other}")),
    }
}

/// Map a gRPC status (see the module doc for the table).
pub fn map_status(code: Code, msg: &str, requested: Revision) -> Error {
    if msg.contains("required revision has been compacted") {
        return Error::Compacted {
            requested,
            compact_revision: 0,
        };
    }
    if msg.contains("required revision is a future revision") {
        return Error::FutureRevision {
            requested,
            current: 0,
        };
    }
    if msg.contains("request timed out") || code == Code::DeadlineExceeded {
        return Error::Timeout(format!("etcd: {msg}"));
    }
    if msg.contains("request is too large") {
        return Error::InvalidArgument(format!(
            "etcd: {msg} (bosun needs etcd to run with --max-request-bytes of at least 2097152 \
             to accept values of up to {} bytes)",
            bosun_store::MAX_VALUE_BYTES
        ));
    }
    match code {
        Code::InvalidArgument | Code::FailedPrecondition => {
            Error::InvalidArgument(format!("etcd: {msg}"))
        }
        Code::Unauthenticated | Code::PermissionDenied => Error::Fatal(format!(
            "etcd refused the request ({msg}); bosun connects without credentials"
        )),
        Code::DataLoss => Error::Fatal(format!("etcd: {msg}")),
        _ => Error::Unavailable(format!("etcd: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, msg: &str) -> Error {
        map_err(etcd::Error::GRpcStatus(tonic::Status::new(code, msg)), 7)
    }

    #[test]
    fn revision_answers_keep_the_requested_revision() {
        assert_eq!(
            status(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted"
            ),
            Error::Compacted {
                requested: 7,
                compact_revision: 0
            }
        );
        assert_eq!(
            status(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision"
            ),
            Error::FutureRevision {
                requested: 7,
                current: 0
            }
        );
    }

    #[test]
    fn leaderless_and_unreachable_clusters_are_retryable() {
        for (code, msg) in [
            (Code::Unavailable, "etcdserver: no leader"),
            (Code::Unavailable, "etcdserver: leader changed"),
            (Code::Unavailable, "etcdserver: server stopped"),
            (Code::Unavailable, "transport error"),
            (
                Code::Unknown,
                "h2 protocol error: error reading a body from connection",
            ),
            (Code::ResourceExhausted, "etcdserver: too many requests"),
            (Code::Cancelled, "operation was canceled"),
        ] {
            let e = status(code, msg);
            assert!(matches!(e, Error::Unavailable(_)), "{msg}: {e:?}");
            assert!(e.is_retryable());
        }
        let e = map_err(etcd::Error::WatchError("channel closed".into()), 0);
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    }

    #[test]
    fn timeouts_say_the_outcome_is_unknown() {
        for (code, msg) in [
            (Code::Unavailable, "etcdserver: request timed out"),
            (
                Code::Unavailable,
                "etcdserver: request timed out, possibly due to previous leader failure",
            ),
            (Code::DeadlineExceeded, "Timeout expired"),
        ] {
            let e = status(code, msg);
            assert!(matches!(e, Error::Timeout(_)), "{msg}: {e:?}");
            assert!(e.is_retryable());
        }
    }

    #[test]
    fn refusals_are_not_retryable() {
        let too_large = status(Code::InvalidArgument, "etcdserver: request is too large");
        assert!(
            matches!(&too_large, Error::InvalidArgument(m) if m.contains("--max-request-bytes")),
            "{too_large:?}"
        );
        let too_many = status(
            Code::InvalidArgument,
            "etcdserver: too many operations in txn request",
        );
        assert!(matches!(too_many, Error::InvalidArgument(_)));
        assert!(status(Code::PermissionDenied, "etcdserver: permission denied").is_fatal());
        assert!(status(Code::DataLoss, "etcdserver: corrupt cluster").is_fatal());
        let e = map_err(etcd::Error::InvalidArgs("empty endpoints".into()), 0);
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    }
}
