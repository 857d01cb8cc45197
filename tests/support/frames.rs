//! A TCP client that speaks HTTP/2 frame by frame, with no HTTP/2 library:
//! for the tests that send what a well-behaved client never would (half a
//! preface, floods of PINGs) and read the server's answer frame by frame.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::within;

/// The HTTP/2 client connection preface string.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The frame type of SETTINGS.
pub const SETTINGS: u8 = 0x4;
/// The frame type of PING.
pub const PING: u8 = 0x6;
/// The frame type of GOAWAY.
pub const GOAWAY: u8 = 0x7;

/// One frame the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// Its type.
    pub kind: u8,
    /// Its flags.
    pub flags: u8,
    /// Its stream.
    pub stream_id: u32,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// For a GOAWAY: its error code and debug data.
    pub fn goaway(&self) -> Option<(u32, Vec<u8>)> {
        if self.kind != GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let code = u32::from_be_bytes([
            self.payload[4],
            self.payload[5],
            self.payload[6],
            self.payload[7],
        ]);
        Some((code, self.payload[8..].to_vec()))
    }
}

/// A frame's bytes: header and payload.
pub fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A PING (not an ACK) with `data`.
pub fn ping(data: u64) -> Vec<u8> {
    frame(PING, 0, 0, &data.to_be_bytes())
}

/// A TCP connection to a server, frame by frame.
pub struct FrameConn {
    tcp: TcpStream,
}

/// How a connection ended, or the frame read.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A frame.
    Frame(RawFrame),
    /// The server closed the connection (or reset it).
    Closed,
}

impl FrameConn {
    /// Connects to `addr`, sending nothing.
    pub async fn connect(addr: SocketAddr) -> FrameConn {
        let tcp = within("TCP connect", TcpStream::connect(addr))
            .await
            .expect("TCP connect");
        let _ = tcp.set_nodelay(true);
        FrameConn { tcp }
    }

    /// Connects to `addr` and sends the preface and an empty SETTINGS.
    pub async fn handshake(addr: SocketAddr) -> FrameConn {
        let mut conn = FrameConn::connect(addr).await;
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        conn.send(&hello).await;
        conn
    }

    /// Sends `bytes`; a failure (the server closed) is ignored, as the
    /// reads that follow see it.
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.tcp.write_all(bytes).await;
    }

    /// The next frame, or the end of the connection (bounded by
    /// [`WAIT`](crate::WAIT)). A PING is answered as it is read (a server
    /// closing gracefully waits for the answer).
    pub async fn read(&mut self) -> Read {
        let read = self.read_frame().await;
        if let Read::Frame(frame) = &read {
            if frame.kind == PING && frame.flags & 1 == 0 {
                let ack = self::frame(PING, 1, 0, &frame.payload);
                self.send(&ack).await;
            }
        }
        read
    }

    async fn read_frame(&mut self) -> Read {
        within("a frame from the server", async {
            let mut header = [0u8; 9];
            if self.tcp.read_exact(&mut header).await.is_err() {
                return Read::Closed;
            }
            let len =
                usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let mut payload = vec![0u8; len];
            if self.tcp.read_exact(&mut payload).await.is_err() {
                return Read::Closed;
            }
            Read::Frame(RawFrame {
                kind: header[3],
                flags: header[4],
                stream_id: u32::from_be_bytes([header[5], header[6], header[7], header[8]])
                    & 0x7fff_ffff,
                payload,
            })
        })
        .await
    }

    /// Reads frames until a GOAWAY (given) or the end (`None`), at most
    /// `max_frames` of them.
    pub async fn goaway(&mut self, max_frames: usize) -> Option<RawFrame> {
        for _ in 0..max_frames {
            match self.read().await {
                Read::Frame(frame) if frame.kind == GOAWAY => return Some(frame),
                Read::Frame(_) => {}
                Read::Closed => return None,
            }
        }
        panic!("no GOAWAY nor end within {max_frames} frames");
    }

    /// Reads frames until the end of the connection, at most `max_frames`
    /// of them; gives the frames read.
    pub async fn until_closed(&mut self, max_frames: usize) -> Vec<RawFrame> {
        let mut frames = Vec::new();
        for _ in 0..max_frames {
            match self.read().await {
                Read::Frame(frame) => frames.push(frame),
                Read::Closed => return frames,
            }
        }
        panic!("the connection did not end within {max_frames} frames: {frames:?}");
    }
}
