//! One module per CLI verb.

pub mod application;
pub mod cancel;
pub mod follow;
pub mod info;
pub mod list;
pub mod run;
pub mod savepoint;
