//! Spreading statements over workers (`tasks.max`): each worker is its own MQTT client.
//!
//! Every statement is assigned to exactly one worker, in contiguous, balanced chunks (sizes
//! differ by at most one; the reference sized chunks from the total statement count, which
//! could leave workers idle). With `connect.mqtt.share.replicate=true`, each `$share/…`
//! statement goes to *every* worker instead, so the broker spreads that shared subscription's
//! messages over all of them. Workers left without statements are dropped.

use kcql::plan::{MqttPlan, MqttRoute};

/// True when the route is a shared subscription (`$share/<group>/…`), which
/// `share.replicate` gives to every worker.
pub fn should_replicate(route: &MqttRoute) -> bool {
    route.filter.share_group.is_some()
}

/// The statement indices each worker runs. `shared[i]` says whether statement `i` is a shared
/// subscription; `tasks` is the requested number of workers (at least one is used).
pub fn split_statements(shared: &[bool], tasks: usize, replicate: bool) -> Vec<Vec<usize>> {
    let tasks = tasks.max(1);
    let (everywhere, chunked): (Vec<usize>, Vec<usize>) =
        (0..shared.len()).partition(|&i| replicate && shared[i]);
    let workers = if everywhere.is_empty() {
        tasks.min(chunked.len()).max(1)
    } else {
        tasks
    };
    let base = chunked.len() / workers;
    let extra = chunked.len() % workers;
    let mut out = Vec::with_capacity(workers);
    let mut next = 0;
    for w in 0..workers {
        let take = base + usize::from(w < extra);
        let mut mine: Vec<usize> = chunked[next..next + take].to_vec();
        next += take;
        mine.extend(&everywhere);
        mine.sort_unstable();
        if !mine.is_empty() {
            out.push(mine);
        }
    }
    out
}

/// One worker's share of a plan: its routes and its MQTT client id.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerPlan {
    /// The worker's number (0-based).
    pub index: usize,
    /// The client id: the connector's, suffixed `-<index>` when there are several workers.
    pub client_id: String,
    /// The routes of the worker's statements.
    pub plan: MqttPlan,
}

/// Splits `plan` over `tasks` workers (see [`split_statements`]).
pub fn worker_plans(
    plan: &MqttPlan,
    tasks: usize,
    replicate: bool,
    client_id: &str,
) -> Vec<WorkerPlan> {
    let statements = plan
        .routes
        .iter()
        .map(|r| r.statement)
        .max()
        .map_or(0, |m| m + 1);
    let mut shared = vec![false; statements];
    for r in &plan.routes {
        shared[r.statement] = should_replicate(r);
    }
    let split = split_statements(&shared, tasks, replicate);
    let many = split.len() > 1;
    split
        .into_iter()
        .enumerate()
        .map(|(index, stmts)| WorkerPlan {
            index,
            client_id: if many {
                format!("{client_id}-{index}")
            } else {
                client_id.to_string()
            },
            plan: MqttPlan {
                routes: plan
                    .routes
                    .iter()
                    .filter(|r| stmts.contains(&r.statement))
                    .cloned()
                    .collect(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(shared: &[bool], tasks: usize, replicate: bool) -> Vec<usize> {
        split_statements(shared, tasks, replicate)
            .iter()
            .map(Vec::len)
            .collect()
    }

    #[test]
    fn balanced_and_replicated() {
        let n = [false, false, false];
        let s = [true, true, true];
        let ns = [false, false, false, true, true, true];
        assert_eq!(sizes(&n, 2, true), vec![2, 1]);
        assert_eq!(sizes(&s, 2, true), vec![3, 3]);
        assert_eq!(sizes(&ns, 2, true), vec![5, 4]);
        assert_eq!(sizes(&ns, 2, false), vec![3, 3]);
        assert_eq!(sizes(&n, 5, false), vec![1, 1, 1]);
        assert_eq!(sizes(&n, 1, false), vec![3]);
        assert_eq!(sizes(&[], 3, false), Vec::<usize>::new());
        // Every statement exactly once without replication.
        let mut all: Vec<usize> = split_statements(&ns, 4, false).concat();
        all.sort_unstable();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn worker_client_ids() {
        let (_, plan) = crate::connectors::mqtt_source::config::compile_kcql(
            "INSERT INTO a SELECT * FROM x; INSERT INTO b SELECT * FROM y",
        )
        .unwrap();
        let w = worker_plans(&plan, 2, false, "id");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].client_id, "id-0");
        assert_eq!(w[1].plan.routes[0].filter.subscription, "y");
        assert_eq!(worker_plans(&plan, 1, false, "id")[0].client_id, "id");
    }
}
