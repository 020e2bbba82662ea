//! `rask info JOB_FILE`: the planned execution graph as JSON, as `flink info` prints.

use rask_common::job::graph::Partitioning;
use rask_common::job::JobGraph;
use serde_json::{json, Value};

pub fn render(graph: &JobGraph) -> String {
    let nodes: Vec<Value> = graph
        .vertices
        .iter()
        .map(|v| {
            let predecessors: Vec<Value> = graph
                .inputs_of(&v.id)
                .iter()
                .map(|e| {
                    let strategy = match &e.partitioning {
                        Partitioning::Forward => "FORWARD".to_string(),
                        Partitioning::Hash { keys } => {
                            let names: Vec<&str> = keys.iter().filter_map(|&k| e.schema.0.get(k).map(|c| c.name.as_str())).collect();
                            format!("HASH[{}]", names.join(", "))
                        }
                        Partitioning::Rebalance => "REBALANCE".to_string(),
                        Partitioning::Broadcast => "BROADCAST".to_string(),
                    };
                    json!({ "id": e.source, "ship_strategy": strategy, "side": "second" })
                })
                .collect();
            let first = &v.operators[0];
            let pact = if predecessors.is_empty() {
                "Data Source"
            } else if graph.outputs_of(&v.id).is_empty() && v.operators.last().is_some_and(|o| o.output.0.is_empty()) {
                "Data Sink"
            } else {
                "Operator"
            };
            json!({
                "id": v.id,
                "type": first.name,
                "pact": pact,
                "contents": v.name,
                "parallelism": v.parallelism,
                "operators": v.operators.iter().map(|o| json!({
                    "uid": o.uid,
                    "name": o.name,
                    "output": o.output.0.iter().map(|c| format!("{} {}", c.name, c.ty)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "predecessors": predecessors,
            })
        })
        .collect();
    let plan = json!({ "jid": graph.job_id, "name": graph.name, "maxParallelism": graph.max_parallelism, "nodes": nodes });
    format!(
        "----------------------- Execution Plan -----------------------\n{}\n--------------------------------------------------------------\n",
        serde_json::to_string_pretty(&plan).expect("plan serializes")
    )
}
