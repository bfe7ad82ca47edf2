//! What is served: the root (a directory handle, or a set of named files), the pure route from
//! a request path to a [`route::Target`] (file, listing, sidecar, manifest, archive, redirect,
//! not found), the lookups below the root ([`root`], with kept [`handles`]), a directory's
//! [`entries`], folder [`archives`], the pure rendering of [`listing`]s and manifests, and the
//! [`entity::Entity`] a response serves.
//!
//! In: a request path and the root. Out: a target whose file part is an opened
//! [`crate::representation::Representation`], which the handler makes an entity (a file, an
//! archive, or a document generated from a directory's entries) and serves like any other.

pub mod archive_members;
pub mod archives;
pub mod connections;
pub mod entity;
pub mod entries;
pub mod handles;
pub mod links;
pub mod listing;
pub mod metalink;
pub mod named;
pub mod rendered;
pub mod root;
pub mod route;
