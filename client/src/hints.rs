//! The way out of each dead end: an error the user can act on gets one more line
//! saying what to do (start a cluster, name it, pick another target, list the jobs).

use crate::rest_client::RestError;

/// What the failed command was doing, for the hint it deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    /// `rask run` against a cluster (an in-process or dedicated one is the way out).
    RunRemote,
    /// A verb about one job (`cancel`, `savepoint`, `stop`).
    JobVerb,
    /// Any other verb that needs a running cluster (`list`, `savepoint --dispose`).
    Cluster,
}

/// `error`, with a hint appended when it is a dead end with a known way out.
pub fn explain(error: anyhow::Error, situation: Situation) -> anyhow::Error {
    let Some(rest) = error.chain().find_map(|e| e.downcast_ref::<RestError>()) else {
        return error;
    };
    let hint = match rest {
        RestError::Unreachable { .. } => {
            let mut hint = "no JobManager answers there. Start a session cluster with `deploy/bin/start-cluster.sh` (REST on localhost:8081), or name a running one with -m HOST:PORT".to_string();
            if situation == Situation::RunRemote {
                hint.push_str(
                    "; or run the job without one: `rask run --target local JOB_FILE` (in this process) or `--target per-job` (a cluster of its own)",
                );
            }
            hint
        }
        RestError::Status { status: 404, message, .. } if situation != Situation::Cluster && message.contains("not found") => {
            "`rask list --all -m HOST:PORT` lists the cluster's jobs (finished jobs are kept for jobstore.expiration-time)".to_string()
        }
        _ => return error,
    };
    anyhow::anyhow!("{error:#}\nhint: {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_clusters_and_unknown_jobs_get_a_way_out() {
        let unreachable = || anyhow::Error::new(RestError::Unreachable { url: "http://localhost:8081".into(), reason: "refused".into() });
        let run = explain(unreachable(), Situation::RunRemote).to_string();
        assert!(run.contains("deploy/bin/start-cluster.sh") && run.contains("--target local") && run.contains("per-job"), "{run}");
        let list = explain(unreachable(), Situation::Cluster).to_string();
        assert!(list.contains("-m HOST:PORT") && !list.contains("--target"), "{list}");
        let missing = RestError::Status { url: "u".into(), status: 404, message: "Job abc not found".into() };
        assert!(explain(missing.into(), Situation::JobVerb).to_string().contains("rask list --all"));
        let other = RestError::Status { url: "u".into(), status: 400, message: "bad".into() };
        assert!(!explain(other.into(), Situation::JobVerb).to_string().contains("hint"));
    }
}
