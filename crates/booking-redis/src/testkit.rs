//! A throwaway Redis server for tests (feature `testkit`, not API-stable):
//! started from the installed `redis-server` on a free port, in memory
//! only, and killed (SIGKILL, as a crash would) when asked or when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` child process of the test's own.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port of 127.0.0.1 and waits until it
    /// accepts connections.
    ///
    /// Panics when `redis-server` is not installed or does not start.
    pub async fn start() -> RedisServer {
        let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(addr) => addr.port(),
            Err(e) => panic!("no free port: {e}"),
        };
        let mut server = RedisServer { port, child: None };
        server.restart().await;
        server
    }

    /// Starts the server again on the same port, empty (after [`kill`](Self::kill)).
    ///
    /// Panics when `redis-server` is not installed or does not start.
    pub async fn restart(&mut self) {
        self.kill();
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!("cannot start redis-server (install it, e.g. apt-get install redis-server): {e}"),
        }
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
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
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
