//! What is served: the root (a directory handle, or a set of named files), the pure route from
//! a request path to a [`route::Target`] (file, listing, sidecar, manifest, redirect, not
//! found), and the pure rendering of listings and manifests.
//!
//! In: a request path and the root. Out: a target whose file part is an opened
//! [`crate::representation::Representation`], planned by the handler exactly as a single file
//! always was.

pub mod archives;
pub mod connections;
pub mod entity;
pub mod entries;
pub mod handles;
pub mod listing;
pub mod named;
pub mod root;
pub mod route;
