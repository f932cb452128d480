//! A throwaway Redis server for tests (feature `testkit`, not API-stable):
//! started from the installed `redis-server` on a free port, in memory
//! only unless asked otherwise, and killed (SIGKILL, as a crash would) when
//! asked or when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` child process of the test's own.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    args: Vec<String>,
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server on a free port of 127.0.0.1, in memory only, and
    /// waits until it accepts connections.
    ///
    /// Panics when `redis-server` is not installed or does not start.
    pub async fn start() -> RedisServer {
        Self::start_with(&[]).await
    }

    /// As [`start`](Self::start), with more `redis-server` arguments after
    /// the defaults (`--save '' --appendonly no`), which they override:
    /// `&["--maxmemory-policy", "allkeys-lru"]`, say.
    ///
    /// Panics when `redis-server` is not installed or does not start.
    pub async fn start_with(args: &[&str]) -> RedisServer {
        Self::launch(args, None).await
    }

    /// As [`start_with`](Self::start_with), working in a fresh directory of
    /// its own ([`dir`](Self::dir), removed when dropped), so that what it
    /// persists (`&["--appendonly", "yes"]`, say) is loaded again by
    /// [`restart`](Self::restart).
    ///
    /// Panics when `redis-server` is not installed or does not start.
    pub async fn start_persistent(args: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!("booking-redis-{}-{}", std::process::id(), free_port()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        Self::launch(args, Some(dir)).await
    }

    async fn launch(args: &[&str], dir: Option<PathBuf>) -> RedisServer {
        let mut server =
            RedisServer { port: free_port(), child: None, args: args.iter().map(|a| (*a).to_owned()).collect(), dir };
        server.restart().await;
        server
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)):
    /// empty, or, for a [`start_persistent`](Self::start_persistent)
    /// server, from what it persisted. Waits until it answers commands
    /// (past loading its data).
    ///
    /// Panics when `redis-server` is not installed or does not start.
    pub async fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        if let Some(dir) = &self.dir {
            cmd.arg("--dir").arg(dir);
        }
        cmd.args(&self.args);
        match cmd.stdout(Stdio::null()).spawn() {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!("cannot start redis-server (install it, e.g. apt-get install redis-server): {e}"),
        }
        let Ok(client) = redis::Client::open(self.url()) else { panic!("bad url {}", self.url()) };
        for _ in 0..1000 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Kills the server with SIGKILL: no chance to close connections or
    /// save anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The directory a [`start_persistent`](Self::start_persistent) server
    /// works in (its AOF is under `appendonlydir/`).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
