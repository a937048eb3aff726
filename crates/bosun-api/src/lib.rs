//! Kubernetes API machinery, pure: no I/O, no async.
//!
//! Start with [`resources`]: the table of served resources as data, and the discovery
//! documents built from it. [`error::ApiError`] renders every failure as a Kubernetes `Status`.
//! [`selector`] parses and matches label and field selectors, [`names`] holds the name rules,
//! and [`table`] renders objects as the `meta.k8s.io` Table that `kubectl get` prints.

pub mod error;
pub mod names;
pub mod resources;
pub mod selector;
pub mod table;

pub use error::{ApiError, Cause};
pub use resources::{ResourceInfo, Subresource};
pub use selector::{FieldSelector, LabelSelector};
pub use table::{IncludeObject, human_duration, table};
