//! One module per CLI verb.

pub mod cancel;
pub mod info;
pub mod list;
pub mod run;
pub mod savepoint;
