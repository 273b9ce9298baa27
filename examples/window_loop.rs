//! Runs the window engine workload of `benches/window.rs` once (for profiling): the argument
//! is the number of records (default 200 000). Checks and prints the number of outputs.

#[path = "../benches/support/window_workload.rs"]
mod window_workload;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let plan = window_workload::plan();
    let records = window_workload::records(n);
    let outputs = window_workload::run(&plan, &records);
    assert_eq!(outputs, window_workload::expected_outputs(n), "outputs");
    println!("{outputs}");
}
