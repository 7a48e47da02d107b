//! The launcher's environment: a missing or malformed variable is a typed error naming it, and
//! `from_env` meets the other ranks through a TCPStore that rank 0 hosts (torchrun's agent store
//! is exercised by the example under torchrun).

mod common;

use std::process::{Command, Stdio};

use pyrite_distributed::{Error, LaunchEnv, ProcessGroup};
use tch::Tensor;

fn lookup(vars: &[(&str, &str)]) -> Result<LaunchEnv, Error> {
    LaunchEnv::from_lookup(|var| vars.iter().find(|(k, _)| *k == var).map(|(_, v)| v.to_string()))
}

const GOOD: [(&str, &str); 5] = [("RANK", "1"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "1"), ("MASTER_ADDR", "10.0.0.1"), ("MASTER_PORT", "29500")];

/// GOOD with `var` set to `value`, or removed when `value` is `None`.
fn with<'a>(var: &'a str, value: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut vars: Vec<(&str, &str)> = GOOD.iter().copied().filter(|(k, _)| *k != var).collect();
    vars.extend(value.map(|v| (var, v)));
    vars
}

#[test]
fn a_complete_environment_is_read() {
    let env = lookup(&GOOD).unwrap();
    assert_eq!(env, LaunchEnv { rank: 1, world_size: 4, local_rank: 1, master_addr: "10.0.0.1".into(), master_port: 29500, agent_store: false });
    assert!(lookup(&with("TORCHELASTIC_USE_AGENT_STORE", Some("True"))).unwrap().agent_store);
}

#[test]
fn a_missing_or_malformed_variable_is_an_error_naming_it() {
    let cases: [(&str, Option<&'static str>, &str); 6] = [
        (
            "MASTER_ADDR",
            None,
            "environment variable MASTER_ADDR: is not set (start the program with torchrun, or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)",
        ),
        ("RANK", Some("4"), "environment variable RANK: is 4, but WORLD_SIZE is 4: ranks run from 0 to 3"),
        ("RANK", Some("-1"), "environment variable RANK: is \"-1\", not a non-negative integer"),
        ("WORLD_SIZE", Some("0"), "environment variable WORLD_SIZE: is 0: a group has at least one rank"),
        ("MASTER_PORT", Some("70000"), "environment variable MASTER_PORT: is \"70000\", not a port number (1 to 65535)"),
        ("MASTER_ADDR", Some(" "), "environment variable MASTER_ADDR: is empty"),
    ];
    for (var, value, message) in cases {
        let err = lookup(&with(var, value)).unwrap_err();
        assert!(matches!(&err, Error::Env { var: v, .. } if v == var), "{err:?}");
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn from_env_meets_through_a_tcp_store_hosted_by_rank_0() {
    if !common::gloo_or_skip("from_env_meets_through_a_tcp_store_hosted_by_rank_0") {
        return;
    }
    if std::env::var("RANK").is_ok() {
        // A rank started below.
        let pg = ProcessGroup::from_env().expect("from_env");
        let mut t = Tensor::from_slice(&[pg.rank() as f32 + 1.0]);
        pg.all_reduce_sum(&mut t).unwrap();
        assert_eq!(f32::try_from(&t).unwrap(), 3.0);
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let children: Vec<_> = (0..2)
        .map(|rank| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "from_env_meets_through_a_tcp_store_hosted_by_rank_0", "--nocapture"])
                .env("RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .env_remove("TORCHELASTIC_USE_AGENT_STORE")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (rank, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "rank {rank}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}
