//! Kubernetes API machinery, pure: no I/O, no async. The API server calls it to name, find,
//! select, validate names of and print the objects it serves, and to word its failures.
//!
//! Where to start reading:
//!
//! 1. [`resources`]: the table of served resources as data ([`ResourceInfo`]), and the legacy
//!    discovery documents (`/api`, `/apis`, `APIResourceList`) built from it.
//! 2. [`error`]: [`ApiError`], every failure as a Kubernetes `Status` with upstream's reason,
//!    code and wording; [`Cause`] for the field errors of an `Invalid` status.
//! 3. [`selector`]: [`LabelSelector`] and [`FieldSelector`], parsed from query strings and
//!    `LabelSelector` objects and matched against objects.
//! 4. [`names`]: the name rules (RFC 1123 labels and subdomains, label keys and values).
//! 5. [`quantity`]: resource quantities as exact millicores or bytes.
//! 6. [`table`]: the `meta.k8s.io/v1` Table `kubectl get` prints, with each kind's columns.
//! 7. [`manifest`]: JSON and YAML bytes to objects, noting fields set twice.
//! 8. [`event_versions`]: core/v1 and events.k8s.io/v1 Events, one stored object in two forms.
//!
//! Everything works on `serde_json::Value` objects as they are stored, and every message
//! follows k8s.io/apimachinery at v0.33 (Kubernetes 1.33) so that clients see what a real
//! cluster would say.

pub mod error;
pub mod event_versions;
pub mod manifest;
pub mod names;
pub mod quantity;
pub mod resources;
pub mod selector;
pub mod table;

pub use error::{ApiError, Cause, StatusDetails};
pub use resources::{ResourceInfo, Subresource};
pub use selector::{FieldSelector, LabelSelector};
pub use table::{IncludeObject, human_duration, table};
