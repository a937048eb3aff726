//! bosun's Kubernetes-compatible API server.
//!
//! Start with [`ApiServer`] (`server.rs`): it binds HTTPS, authenticates (bearer tokens or
//! client certificates; anonymous requests reach only health and version), and routes
//! (`router.rs`). A resource request is parsed into an [`path::ObjectPath`], then
//! [`handlers`] reads, decides with the pure modules ([`object`] metadata, [`validation`],
//! [`defaults`], patches from `bosun-patch`), and writes through [`registry`] into the
//! [`bosun_store::Store`]. [`list`] serves LIST and WATCH, from the
//! resource's [`watch_cache`] where it can. Types, selectors, tables and Status
//! errors come from `bosun-api`.

pub mod binding;
pub mod bootstrap;
pub mod defaults;
pub mod eviction;
pub mod field_manager;
pub mod field_validation;
pub mod handlers;
pub mod housekeeping;
pub mod list;
pub mod metrics;
pub mod node_proxy;
pub mod object;
pub mod openapi;
pub mod path;
pub mod priority;
pub mod protobuf;
pub mod registry;
pub mod resource_metrics;
pub mod response;
pub mod router;
pub mod schema;
pub mod server;
pub mod state;
pub mod validation;
pub mod watch_cache;
pub mod watch_slots;

pub use router::router;
pub use server::{ApiServer, ApiServerConfig, StartError};
pub use state::AppState;
pub use watch_slots::DEFAULT_MAX_WATCHES;
