//! A TCP relay between a client and a server that, on command, turns into
//! a network blackhole: both sockets stay open, and nothing is copied any
//! more, either way. What a pulled cable or a dead NAT entry looks like to
//! both ends: no FIN, no RST, just silence.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A relay on `127.0.0.1:<ephemeral port>` to a target address; every
/// connection it accepts is forwarded to a new connection to the target.
/// Dropping it closes every socket it holds.
#[derive(Debug)]
pub struct Relay {
    /// The address clients connect to.
    pub addr: SocketAddr,
    blackhole: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts a relay to `target`.
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (blackhole, _) = watch::channel(false);
        let task = {
            let blackhole = blackhole.clone();
            tokio::spawn(async move {
                // Dropped (and its tasks aborted) with the accept task.
                let mut connections = JoinSet::new();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    let Ok(server) = TcpStream::connect(target).await else {
                        // Dropping the client's socket tells it the target is gone.
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    while connections.try_join_next().is_some() {}
                    connections.spawn(relay(client, server, blackhole.subscribe()));
                }
            })
        };
        Relay {
            addr,
            blackhole,
            task,
        }
    }

    /// Stops forwarding, both ways and on every connection, now and for
    /// good; the sockets stay open.
    pub fn blackhole(&self) {
        self.blackhole.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, blackhole: watch::Receiver<bool>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let _sockets = tokio::join!(
        pump(client_read, server_write, blackhole.clone()),
        pump(server_read, client_write, blackhole),
    );
    // Both directions ended: the halves (and the sockets) are dropped here.
}

/// Copies `from` to `to` until the end of `from`, a failure, or the
/// blackhole; after the blackhole, holds both halves open and copies
/// nothing, until the relay is dropped.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut blackhole: watch::Receiver<bool>,
) -> (OwnedReadHalf, OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            biased;
            _ = async { blackhole.wait_for(|on| *on).await.is_ok() } => break,
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    // Pass the end on, as a relay does.
                    let _ = to.shutdown().await;
                    return (from, to);
                }
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        return (from, to);
                    }
                }
            },
        }
    }
    // The blackhole: hold the sockets, read nothing, write nothing.
    std::future::pending::<()>().await;
    (from, to)
}
