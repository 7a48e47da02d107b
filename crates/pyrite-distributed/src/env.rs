//! The launcher's environment, as torchrun sets it: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `MASTER_ADDR`, `MASTER_PORT` and `TORCHELASTIC_USE_AGENT_STORE`.

use crate::error::{Error, Result};

/// Where this process stands in a group started by a launcher, and where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEnv {
    /// This process's rank, `0..world_size`.
    pub rank: usize,
    /// The number of processes.
    pub world_size: usize,
    /// This process's rank on its machine (`LOCAL_RANK`, default 0): which GPU to use.
    pub local_rank: usize,
    /// The store's host.
    pub master_addr: String,
    /// The store's port.
    pub master_port: u16,
    /// Whether the launcher hosts the store (torchrun's agent, `TORCHELASTIC_USE_AGENT_STORE=True`),
    /// so that every rank, rank 0 included, connects to it as a client.
    pub agent_store: bool,
}

impl LaunchEnv {
    /// Reads and checks the variables of this process's environment.
    ///
    /// # Errors
    ///
    /// [`Error::Env`] naming the variable that is missing or malformed, or `RANK` when it is not
    /// below `WORLD_SIZE`.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`from_env`](Self::from_env), reading the variables through `get`.
    ///
    /// ```
    /// use pyrite_distributed::LaunchEnv;
    /// let vars = [("RANK", "1"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")];
    /// let get = |var: &str| vars.iter().find(|(k, _)| *k == var).map(|(_, v)| v.to_string());
    /// let env = LaunchEnv::from_lookup(get).unwrap();
    /// assert_eq!((env.rank, env.world_size, env.local_rank, env.agent_store), (1, 2, 0, false));
    ///
    /// let vars = [("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")];
    /// let get = |var: &str| vars.iter().find(|(k, _)| *k == var).map(|(_, v)| v.to_string());
    /// let err = LaunchEnv::from_lookup(get).unwrap_err();
    /// assert_eq!(err.to_string(), "environment variable RANK: is 2, but WORLD_SIZE is 2: ranks run from 0 to 1");
    /// ```
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let env_err = |var: &str, problem: String| Error::Env { var: var.into(), problem };
        let required = |var: &str| -> Result<String> {
            match get(var) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                Some(_) => Err(env_err(var, "is empty".into())),
                None => Err(env_err(var, "is not set (start the program with torchrun, or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)".into())),
            }
        };
        let number =
            |var: &str, text: String| -> Result<usize> { text.parse::<usize>().map_err(|_| env_err(var, format!("is {text:?}, not a non-negative integer"))) };
        let world_size = number("WORLD_SIZE", required("WORLD_SIZE")?)?;
        if world_size == 0 {
            return Err(env_err("WORLD_SIZE", "is 0: a group has at least one rank".into()));
        }
        let rank = number("RANK", required("RANK")?)?;
        if rank >= world_size {
            return Err(env_err("RANK", format!("is {rank}, but WORLD_SIZE is {world_size}: ranks run from 0 to {}", world_size - 1)));
        }
        let local_rank = match get("LOCAL_RANK") {
            Some(v) => number("LOCAL_RANK", v.trim().to_string())?,
            None => 0,
        };
        let master_addr = required("MASTER_ADDR")?;
        let port_text = required("MASTER_PORT")?;
        let master_port = match port_text.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(env_err("MASTER_PORT", format!("is {port_text:?}, not a port number (1 to 65535)"))),
        };
        let agent_store = get("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v == "True");
        Ok(LaunchEnv { rank, world_size, local_rank, master_addr, master_port, agent_store })
    }
}
