// Compiles proto/rask.proto with a vendored protoc, so a fresh clone builds with no
// system protobuf compiler.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    }
    println!("cargo:rerun-if-changed=../proto/rask.proto");
    // The JobGraph in every task descriptor is one shared buffer, not a copy per subtask.
    tonic_prost_build::configure()
        .bytes(".rask.v1.TaskDeploymentDescriptor.job_graph_json")
        .compile_protos(&["../proto/rask.proto"], &["../proto"])?;
    Ok(())
}
