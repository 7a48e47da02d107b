//! Two ranks for a test: the test runs as rank 0 in the test process and as rank 1 in a child,
//! which is this test binary re-run on that one test; they meet through a FileStore in a fresh
//! temporary directory.
#![allow(dead_code)] // Each test binary uses part of this module.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pyrite_distributed::ProcessGroup;

const RANK_VAR: &str = "PYRITE_DIST_TEST_RANK";
const DIR_VAR: &str = "PYRITE_DIST_TEST_DIR";

/// This process's part in a two-rank test.
pub struct Ranks {
    /// The group of the two ranks.
    pub pg: ProcessGroup,
    /// Rank 1, when this is rank 0.
    child: Option<Child>,
    dir: PathBuf,
}

/// Whether the crate was built with Gloo; if not, the test is skipped with a message, except
/// under CI (`CI=true`), where that is a failure.
pub fn gloo_or_skip(test: &str) -> bool {
    if pyrite_distributed::AVAILABLE {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: pyrite-distributed was built without Gloo's headers, which CI must have");
    eprintln!("{test}: skipped: pyrite-distributed was built without Gloo's headers (apt-get install -y libgloo-dev)");
    false
}

/// Starts the two ranks of test `test` (its name in the test binary) with a group of this
/// timeout; `None` when the crate has no Gloo (see [`gloo_or_skip`]).
pub fn two_ranks(test: &str, timeout: Duration) -> Option<Ranks> {
    if !gloo_or_skip(test) {
        return None;
    }
    let (rank, dir, child) = match std::env::var(RANK_VAR) {
        Ok(rank) => (rank.parse::<usize>().expect("rank"), PathBuf::from(std::env::var(DIR_VAR).expect("dir")), None),
        Err(_) => {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
            let dir = std::env::temp_dir().join(format!("pyrite-dist-{}-{test}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let child = Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", test, "--include-ignored", "--nocapture", "--test-threads", "1"])
                .env(RANK_VAR, "1")
                .env(DIR_VAR, &dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start rank 1");
            (0, dir, Some(child))
        }
    };
    // Both ranks meet first with a generous timeout (starting a process can take seconds on a
    // busy machine), so that a short timeout under test only bounds the collectives.
    let meeting = ProcessGroup::builder().timeout(Duration::from_secs(120)).file_store(dir.join("meeting"), rank, 2).expect("meeting");
    meeting.barrier().expect("barrier");
    drop(meeting);
    let pg = ProcessGroup::builder().timeout(timeout).file_store(dir.join("store"), rank, 2).expect("rendezvous");
    Some(Ranks { pg, child, dir })
}

impl Ranks {
    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.pg.rank()
    }

    /// The shared temporary directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// On rank 0: kills rank 1 (SIGKILL) and reaps it.
    pub fn kill_rank1(&mut self) {
        let child = self.child.as_mut().expect("only rank 0 kills rank 1");
        child.kill().expect("kill rank 1");
        child.wait().expect("reap rank 1");
        self.child = None;
    }

    /// Ends the test: on rank 0, waits for rank 1 (unless killed), fails if it failed, and removes
    /// the temporary directory; the group is dropped first.
    pub fn finish(self) {
        let rank = self.rank();
        let Ranks { pg, child, dir } = self;
        drop(pg);
        let out = child.map(|c| c.wait_with_output().expect("wait for rank 1"));
        if rank == 0 {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Some(out) = out {
            assert!(
                out.status.success(),
                "rank 1 failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Runs `f`, returning its result and how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}
