//! The job model: job files (YAML) as users write them ([`spec`]), SQL expressions
//! evaluated over Arrow batches ([`expr`]), the program step ([`planner`]) that
//! turns a job file into a validated, planned [`graph::JobGraph`], the source and sink
//! connectors it finds by name ([`connectors`]), and the one validation of a JobGraph
//! ([`validate`]). Flink SQL scripts are parsed by [`sql`] and planned by
//! [`planner::sql`] into the same JobGraph.

pub mod application;
pub mod connectors;
pub mod error;
pub mod expr;
pub mod graph;
pub mod limits;
pub mod planner;
pub mod spec;
pub mod sql;
pub mod types;
pub mod validate;

pub use error::JobFileError;
pub use graph::JobGraph;
pub use planner::plan_job_file;
pub use validate::{validate_job_graph, InvalidJobGraph};
