//! Servers for cluster tests: a `redis-server` of the test's own (Debian's package, a free
//! loopback port, a temporary directory, stopped on drop), and a TCP gate the test can cut
//! to separate one relay from Redis.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running `redis-server`.
pub struct Redis {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts one (no persistence); panics with what to do when it is not installed.
    pub fn start() -> Redis {
        let port = free_port();
        let dir = crate::temp_path(&format!("redis-{port}"));
        std::fs::create_dir_all(&dir).expect("a temporary directory for redis");
        let mut r = Redis {
            child: spawn(port, &dir),
            port,
            dir,
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("redis-server exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not listen on {} within 10 s", self.port);
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its process id (to pause it with SIGSTOP).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command (RESP over a fresh connection) and returns its first answer line,
    /// e.g. `["CLIENT", "PAUSE", "800", "WRITE"]` → `+OK`.
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("redis");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        c.write_all(req.as_bytes()).expect("redis write");
        let mut line = String::new();
        BufReader::new(c).read_line(&mut line).expect("redis read");
        line.trim_end().to_string()
    }

    /// Kills it (SIGKILL): its data is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.dir);
        self.wait_ready();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is not installed: `make test` installs Debian's redis-server")
}

/// A free port on 127.0.0.1 (free when asked).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A TCP forwarder on loopback to `to`, which the test can cut (every connection through
/// it is dropped and new ones are refused) and open again.
pub struct Gate {
    /// The port to connect to instead of `to`'s.
    pub port: u16,
    open: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// Forwards 127.0.0.1:`port` to 127.0.0.1:`to`.
    pub async fn start(to: u16) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (o, g) = (open.clone(), generation.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let (o, g) = (o.clone(), g.clone());
                tokio::spawn(async move {
                    let born = g.load(Ordering::SeqCst);
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                    else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while o.load(Ordering::SeqCst) && g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Gate {
            port,
            open,
            generation,
            task,
        }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Lets connections through again.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
