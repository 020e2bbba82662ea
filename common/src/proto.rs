//! The generated gRPC contract of `proto/rask.proto` (package `rask.v1`).
#![allow(clippy::all)]

tonic::include_proto!("rask.v1");
